/** The distinct chunk types of a PNG, in order (PNG spec §5.3). */
export function pngChunks(png: Buffer): string[] {
  const types: string[] = [];
  for (let offset = 8; offset < png.length; ) {
    const length = png.readUInt32BE(offset);
    const type = png.toString('latin1', offset + 4, offset + 8);
    if (types.at(-1) !== type) types.push(type);
    offset += 12 + length;
  }
  return types;
}
