import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadBert } from '../src/encoders/bert/load';
import type { BertEncoder } from '../src/encoders/bert/model';
import type { AdapterFactors, LoraFactors } from '../src/lora/lora';
import { LoraAdapters } from '../src/lora/lora';
import { folderModelFiles } from '../src/models/model-files-node';
import {
  exportPeftAdapter,
  importPeftAdapter,
  loraAdaptersFromPeft,
  PEFT_CONFIG_FILE,
  PEFT_WEIGHTS_FILE,
  peftAdapterFiles,
  readPeftAdapter,
} from '../src/models/peft';
import { savePeftAdapter } from '../src/models/peft-node';
import { SafetensorsFile, writeSafetensors } from '../src/models/safetensors';
import { useTestBackend } from './helpers/backend';
import { temporaryFolder } from './fixtures/bert-helpers';
import { TinyEncoder } from './fixtures/tiny-encoder';

/** The golden fixture's BertModel (2 layers, hidden 32, FFN 64, with pooler); token ids are fed directly. */
const GOLDEN = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures', 'golden-bert');
const idsOnly = { encode: () => [] as number[], padId: 0, maxId: 99 };

/** BertModel's Linear modules, as `model.named_modules()` lists them (what peft's target matching sees). */
function bertLinearModules(layers: number): string[] {
  const modules: string[] = [];
  for (let i = 0; i < layers; i++) {
    const p = `encoder.layer.${i}.`;
    modules.push(
      `${p}attention.self.query`,
      `${p}attention.self.key`,
      `${p}attention.self.value`,
      `${p}attention.output.dense`,
      `${p}intermediate.dense`,
      `${p}output.dense`,
    );
  }
  return [...modules, 'pooler.dense'];
}

/** peft's check_target_module_exists for a list: the key equals a target or ends with `.${target}`. */
function peftSelects(targets: readonly string[], key: string): boolean {
  return targets.some((t) => key === t || key.endsWith(`.${t}`));
}

/** Adapters whose A and B are filled with deterministic non-zero values. */
function filledAdapters(
  encoder: BertEncoder | TinyEncoder,
  config: ConstructorParameters<typeof LoraAdapters>[1],
) {
  const lora = new LoraAdapters(encoder.adaptableWeights(), config);
  const factors = lora.exportFactors();
  let k = 0;
  for (const f of factors.values()) {
    f.A.forEach((_, i) => (f.A[i] = Math.sin(++k) * 0.2));
    f.B.forEach((_, i) => (f.B[i] = Math.cos(++k) * 0.2));
  }
  lora.importFactors(factors);
  return lora;
}

function keysOf(adapter: { weights: Uint8Array }): Map<string, readonly number[]> {
  const file = new SafetensorsFile(adapter.weights, PEFT_WEIGHTS_FILE);
  return new Map(file.names().map((n) => [n, file.entry(n).shape]));
}

describe('PEFT adapter export and import', () => {
  let encoder: BertEncoder;
  let root: Awaited<ReturnType<typeof temporaryFolder>>;
  beforeAll(async () => {
    await useTestBackend();
    encoder = await loadBert(folderModelFiles(GOLDEN), { tokenizer: idsOnly, id: 'test/bert-golden' });
    root = await temporaryFolder('peft');
  });
  afterAll(async () => {
    encoder?.dispose();
    await root?.remove();
  });

  it("writes peft's tensor names, shapes and config fields for BERT's query and value", () => {
    const lora = filledAdapters(encoder, { rank: 4, alpha: 8, dropout: 0.1, targets: ['query', 'value'] });
    const adapter = exportPeftAdapter(encoder, lora);
    expect(keysOf(adapter)).toEqual(
      new Map([
        ['base_model.model.encoder.layer.0.attention.self.query.lora_A.weight', [4, 32]],
        ['base_model.model.encoder.layer.0.attention.self.query.lora_B.weight', [32, 4]],
        ['base_model.model.encoder.layer.0.attention.self.value.lora_A.weight', [4, 32]],
        ['base_model.model.encoder.layer.0.attention.self.value.lora_B.weight', [32, 4]],
        ['base_model.model.encoder.layer.1.attention.self.query.lora_A.weight', [4, 32]],
        ['base_model.model.encoder.layer.1.attention.self.query.lora_B.weight', [32, 4]],
        ['base_model.model.encoder.layer.1.attention.self.value.lora_A.weight', [4, 32]],
        ['base_model.model.encoder.layer.1.attention.self.value.lora_B.weight', [32, 4]],
      ]),
    );
    expect(adapter.config).toMatchObject({
      peft_type: 'LORA',
      task_type: 'FEATURE_EXTRACTION',
      base_model_name_or_path: 'test/bert-golden',
      r: 4,
      lora_alpha: 8,
      lora_dropout: 0.1,
      target_modules: ['query', 'value'],
      bias: 'none',
      fan_in_fan_out: false,
      use_rslora: false,
      use_dora: false,
      modules_to_save: null,
      rank_pattern: {},
      alpha_pattern: {},
      inference_mode: true,
    });
    const file = new SafetensorsFile(adapter.weights, PEFT_WEIGHTS_FILE);
    expect(file.metadata).toMatchObject({ format: 'pt', 'fedhft.naming': 'transformers:bert' });
    // lora_A is A [r, dIn] and lora_B is B [dOut, r], exactly our factors.
    const factors = lora.exportFactors().get('layers.1.attention.value')!;
    expect(
      Array.from(file.readFloat32('base_model.model.encoder.layer.1.attention.self.value.lora_A.weight')),
    ).toEqual(Array.from(factors.A));
    expect(
      Array.from(file.readFloat32('base_model.model.encoder.layer.1.attention.self.value.lora_B.weight')),
    ).toEqual(Array.from(factors.B));
    const files = peftAdapterFiles(adapter);
    expect([...files.keys()]).toEqual([PEFT_CONFIG_FILE, PEFT_WEIGHTS_FILE]);
    expect(JSON.parse(new TextDecoder().decode(files.get(PEFT_CONFIG_FILE)))).toEqual(adapter.config);
    lora.dispose();
  });

  it('round-trips every adaptable weight through files; target_modules select exactly those modules', async () => {
    const lora = filledAdapters(encoder, {
      rank: 3,
      alpha: 6,
      dropout: 0.05,
      targets: ['query', 'key', 'value', 'attention.output', 'ffn.in', 'ffn.out', 'pooler'],
    });
    const adapter = exportPeftAdapter(encoder, lora, { taskType: null, baseModel: 'prajwal1/bert-tiny' });
    const targets = adapter.config.target_modules as string[];
    // FFN output's suffix `output.dense` would also select attention.output.dense: it is listed per layer.
    expect(targets).toEqual([
      'query',
      'key',
      'value',
      'attention.output.dense',
      'intermediate.dense',
      'encoder.layer.0.output.dense',
      'encoder.layer.1.output.dense',
      'pooler.dense',
    ]);
    const exported = [...keysOf(adapter).keys()]
      .filter((k) => k.endsWith('.lora_A.weight'))
      .map((k) => k.slice('base_model.model.'.length, -'.lora_A.weight'.length));
    expect(bertLinearModules(2).filter((m) => peftSelects(targets, m))).toEqual(exported);
    expect(adapter.config).toMatchObject({ task_type: null, base_model_name_or_path: 'prajwal1/bert-tiny' });

    const folder = path.join(root.folder, 'all-kinds');
    await savePeftAdapter(folder, adapter);
    const imported = await readPeftAdapter(encoder, folderModelFiles(folder));
    expect(imported.lora).toEqual({
      rank: 3,
      alpha: 6,
      dropout: 0.05,
      targets: encoder.adaptableWeights().map((w) => w.name),
    });
    const back = loraAdaptersFromPeft(encoder, imported, { seed: 9 });
    for (const { name } of lora.targets)
      expect(Array.from(back.delta(name))).toEqual(Array.from(lora.delta(name)));
    const batch = {
      batchSize: 1,
      seqLen: 4,
      ids: Int32Array.from([2, 40, 41, 3]),
      mask: Float32Array.from([1, 1, 1, 1]),
      lengths: Int32Array.from([4]),
    };
    const a = encoder.embed(batch, { adapter: lora.adapter });
    const b = encoder.embed(batch, { adapter: back.adapter });
    expect(Array.from(b.dataSync())).toEqual(Array.from(a.dataSync()));
    tf.dispose([a, b]);
    back.dispose();
    lora.dispose();
  });

  it('exports rows a mask did not keep as zero rows of lora_B, and imports them into a masked adapter', () => {
    const config = { rank: 2, targets: ['value'], maskMode: 'pre' as const, budget: 0.25, seed: 4 };
    const lora = filledAdapters(encoder, config);
    const name = 'layers.0.attention.value';
    const rows = lora.rows(name);
    expect(rows).toHaveLength(8);
    const adapter = exportPeftAdapter(encoder, lora);
    const fullB = new SafetensorsFile(adapter.weights, 'x').readFloat32(
      'base_model.model.encoder.layer.0.attention.self.value.lora_B.weight',
      [32, 2],
    );
    for (let row = 0; row < 32; row++) {
      const kept = rows.includes(row);
      expect(fullB.subarray(2 * row, 2 * row + 2).some((v) => v !== 0)).toBe(kept);
    }
    const imported = importPeftAdapter(encoder, adapter.config, adapter.weights);
    expect(Array.from(imported.factors.get(name)!.rows)).toEqual(Array.from(rows));
    // Same seed, so the same pre-mask rows: the masked adapter takes the import.
    const back = loraAdaptersFromPeft(encoder, imported, { maskMode: 'pre', budget: 0.25, seed: 4 });
    expect(Array.from(back.delta(name))).toEqual(Array.from(lora.delta(name)));
    back.dispose();
    lora.dispose();
  });

  it('writes only the chosen layers, and heterogeneous ranks as rank_pattern / alpha_pattern', () => {
    const single = filledAdapters(encoder, {
      rank: 2,
      targets: ['layers.1.attention.value', 'layers.0.ffn.in'],
    });
    expect(exportPeftAdapter(encoder, single).config.target_modules).toEqual([
      'encoder.layer.0.intermediate.dense',
      'encoder.layer.1.attention.self.value',
    ]);
    single.dispose();

    const factor = (rank: number, dOut: number, dIn: number, scale: number): LoraFactors => ({
      A: Float32Array.from({ length: rank * dIn }, (_, i) => Math.sin(i + rank)),
      B: Float32Array.from({ length: dOut * rank }, (_, i) => Math.cos(i * rank)),
      rows: Int32Array.from({ length: dOut }, (_, i) => i),
      dOut,
      dIn,
      rank,
      scale,
    });
    const hetero: AdapterFactors = new Map([
      ['layers.0.attention.query', factor(8, 32, 32, 2)],
      ['layers.1.attention.query', factor(8, 32, 32, 2)],
      ['layers.1.attention.value', factor(2, 32, 32, 1.5)],
    ]);
    const adapter = exportPeftAdapter(encoder, hetero);
    expect(adapter.config).toMatchObject({
      r: 8,
      lora_alpha: 16,
      lora_dropout: 0,
      rank_pattern: { 'encoder.layer.1.attention.self.value': 2 },
      alpha_pattern: { 'encoder.layer.1.attention.self.value': 3 },
    });
    const imported = importPeftAdapter(encoder, adapter.config, adapter.weights);
    for (const [name, f] of hetero) {
      expect(imported.factors.get(name)).toMatchObject({ rank: f.rank, scale: f.scale, dOut: 32, dIn: 32 });
    }
  });

  it("imports BertFor*-style keys ('bert.' prefix) and rsLoRA scaling", () => {
    const A = Float32Array.from({ length: 4 * 32 }, (_, i) => i / 100);
    const B = Float32Array.from({ length: 32 * 4 }, (_, i) => 1 - i / 100);
    const weights = writeSafetensors([
      {
        name: 'base_model.model.bert.encoder.layer.0.attention.self.query.lora_A.weight',
        shape: [4, 32],
        data: A,
      },
      {
        name: 'base_model.model.bert.encoder.layer.0.attention.self.query.lora_B.weight',
        shape: [32, 4],
        data: B,
      },
    ]);
    const imported = importPeftAdapter(
      encoder,
      { peft_type: 'LORA', r: 4, lora_alpha: 8, use_rslora: true },
      weights,
    );
    const f = imported.factors.get('layers.0.attention.query')!;
    expect(f.scale).toBeCloseTo(8 / Math.sqrt(4), 12);
    expect(imported.lora.alpha / imported.lora.rank).toBeCloseTo(f.scale, 12);
    expect(Array.from(f.A)).toEqual(Array.from(A));
  });

  it('rejects what it cannot represent, naming the file and the tensor', () => {
    const ok = filledAdapters(encoder, { rank: 2, targets: ['query'] });
    const { config, weights } = exportPeftAdapter(encoder, ok);
    ok.dispose();
    const load = (patch: Record<string, unknown>, bytes: Uint8Array = weights) =>
      importPeftAdapter(encoder, { ...config, ...patch }, bytes, 'my-adapter');
    expect(() => load({ peft_type: 'IA3' })).toThrow(
      'adapter_config.json from my-adapter: peft_type "IA3" is not LORA',
    );
    expect(() => load({ bias: 'all' })).toThrow(/bias "all" is not supported/);
    expect(() => load({ use_dora: true })).toThrow(/DoRA adapters are not supported/);
    expect(() => load({ fan_in_fan_out: true })).toThrow(/fan_in_fan_out adapters are not supported/);
    expect(() => load({ r: 3 })).toThrow(
      /adapter_model.safetensors from my-adapter: tensor base_model.model.encoder.layer.0.attention.self.query.lora_A.weight has shape \[2, 32\], expected \[3, 32\]/,
    );
    const file = new SafetensorsFile(weights, 'x');
    const rewrite = (rename: (n: string) => string | null) =>
      writeSafetensors(
        file.names().flatMap((n) => {
          const to = rename(n);
          return to === null ? [] : [{ name: to, shape: file.entry(n).shape, data: file.readFloat32(n) }];
        }),
      );
    expect(() =>
      load(
        {},
        rewrite((n) => (n.includes('layer.1') && n.includes('lora_B') ? null : n)),
      ),
    ).toThrow(
      'adapter_model.safetensors from my-adapter: missing tensor base_model.model.encoder.layer.1.attention.self.query.lora_B.weight',
    );
    expect(() =>
      load(
        {},
        rewrite((n) => n.replace('self.query', 'self.querx')),
      ),
    ).toThrow(/module encoder.layer.0.attention.self.querx is not an adaptable weight of test\/bert-golden/);
    expect(() =>
      load(
        {},
        rewrite((n) => n.replace('lora_A.weight', 'lora_A.default.weight')),
      ),
    ).toThrow(
      /tensor base_model.model.encoder.layer.0.attention.self.query.lora_A.default.weight is not a LoRA factor/,
    );
  });

  it('exports encoders without Hugging Face modules (USE Lite, tests) under our own weight names, and says so', () => {
    const tiny = new TinyEncoder();
    const lora = filledAdapters(tiny, { rank: 2, targets: ['query', 'value'] });
    const adapter = exportPeftAdapter(tiny, lora);
    expect([...keysOf(adapter).keys()]).toEqual([
      'base_model.model.layers.0.attention.query.lora_A.weight',
      'base_model.model.layers.0.attention.query.lora_B.weight',
      'base_model.model.layers.0.attention.value.lora_A.weight',
      'base_model.model.layers.0.attention.value.lora_B.weight',
    ]);
    expect(adapter.config.target_modules).toEqual(['layers.0.attention.query', 'layers.0.attention.value']);
    expect(new SafetensorsFile(adapter.weights, 'x').metadata['fedhft.naming']).toBe('fedhft');
    const back = loraAdaptersFromPeft(tiny, importPeftAdapter(tiny, adapter.config, adapter.weights));
    for (const { name } of lora.targets)
      expect(Array.from(back.delta(name))).toEqual(Array.from(lora.delta(name)));
    back.dispose();
    lora.dispose();
    tiny.dispose();
  });
});
