import cliProgress from 'cli-progress';

/**
 * Progress of a long command (batch, eval): cli-progress on a terminal; one plain line per image
 * otherwise (logs, CI, a parent process), prefixed with the command's name.
 */
export function createProgress(stream: NodeJS.WriteStream, label: string) {
  if (stream.isTTY) {
    const bar = new cliProgress.SingleBar(
      {
        stream,
        format: 'reading [{bar}] {value}/{total} · {failed} failed · ETA {eta_formatted}',
        hideCursor: true,
      },
      cliProgress.Presets.shades_classic,
    );
    return {
      start: (total: number, value: number) => bar.start(total, value, { failed: 0 }),
      setTotal: (total: number) => bar.setTotal(total),
      update: (value: number, failed: number) => bar.update(value, { failed }),
      stop: () => bar.stop(),
    };
  }
  let total = 0;
  return {
    start: (t: number, value: number) => {
      total = t;
      stream.write(`${label}: ${value}/${total} already done\n`);
    },
    setTotal: (t: number) => {
      total = t;
    },
    update: (value: number, failed: number) =>
      stream.write(`${label}: ${value}/${total} done, ${failed} failed\n`),
    stop: () => undefined,
  };
}
