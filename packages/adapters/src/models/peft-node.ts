import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { PeftAdapter } from './peft';
import { peftAdapterFiles } from './peft';

/** Writes adapter_config.json and adapter_model.safetensors into `folder` (created if needed). */
export async function savePeftAdapter(folder: string, adapter: PeftAdapter): Promise<void> {
  await mkdir(folder, { recursive: true });
  for (const [name, bytes] of peftAdapterFiles(adapter)) await writeFile(path.join(folder, name), bytes);
}
