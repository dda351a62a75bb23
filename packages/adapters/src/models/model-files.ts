/**
 * Where a model's files come from: an npm package folder (Node), a local folder, or a URL (the coordinator or a
 * hub). Encoders only ask for files by relative path, so the same loader serves every source.
 */
export interface ModelFiles {
  /** Human-readable origin, used in error messages. */
  readonly origin: string;
  read(path: string): Promise<ArrayBuffer>;
}

/** Files fetched over HTTP(S) from a base URL (browser or Node >= 18). */
export function urlModelFiles(baseUrl: string, fetchImpl: typeof fetch = fetch): ModelFiles {
  const base = baseUrl.endsWith('/') ? baseUrl : `${baseUrl}/`;
  return {
    origin: base,
    async read(path: string) {
      const url = new URL(path, base).toString();
      const response = await fetchImpl(url);
      if (!response.ok) throw new Error(`cannot fetch model file ${url}: HTTP ${response.status}`);
      return response.arrayBuffer();
    },
  };
}

export async function readJsonFile(files: ModelFiles, path: string): Promise<unknown> {
  const bytes = await files.read(path);
  try {
    return JSON.parse(new TextDecoder().decode(bytes)) as unknown;
  } catch (error) {
    throw new Error(`model file ${path} from ${files.origin} is not valid JSON: ${(error as Error).message}`);
  }
}
