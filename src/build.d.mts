/** Types for src/build.mjs (plain JS so that the bin can run it before any TypeScript loader). */
export interface BuildPaths {
  /** The sources (default: this src/ folder). */
  src?: string;
  /** The build folder (default: BUILD_DIR). */
  out?: string;
}
export const BUILD_DIR: string;
export function freshBuild(paths?: BuildPaths): URL | undefined;
export function build(paths?: BuildPaths): Promise<number>;
