import { AppError } from '../errors.ts';

/**
 * A listening socket that could not be opened, in words that name the setting to change. Node reports
 * a taken port as EADDRINUSE and a privileged one (below 1024 without the right) as EACCES
 * (https://nodejs.org/api/net.html#serverlisten); both are start-up problems the user fixes in config
 * (exit 2), not bugs.
 */
export function listenError(
  error: unknown,
  where: { variable: string; port: number; host: string },
): unknown {
  const code = (error as { code?: unknown } | undefined)?.code;
  const details = { variable: where.variable, port: where.port, host: where.host, code };
  if (code === 'EADDRINUSE') {
    return new AppError('PORT_IN_USE', `listen ${where.host}:${where.port}: EADDRINUSE`, {
      cause: error,
      details,
      userMessage: `Port ${where.port} on ${where.host} is already in use (${where.variable}=${where.port}). Stop the other program using it, or set ${where.variable} to a free port.`,
    });
  }
  if (code === 'EACCES' || code === 'EADDRNOTAVAIL') {
    return new AppError('CONFIG_INVALID', `listen ${where.host}:${where.port}: ${String(code)}`, {
      cause: error,
      details,
      userMessage:
        code === 'EACCES'
          ? `quickread may not listen on port ${where.port} (${where.variable}); ports below 1024 need privileges. Choose a port from 1024 up.`
          : `${where.host} is not an address of this machine, so quickread cannot listen on it (${where.variable}).`,
    });
  }
  return error;
}
