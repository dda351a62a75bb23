#!/usr/bin/python3
"""Golden outputs of a small random BERT, computed by PyTorch, for test/bert-golden.test.ts.

Builds a BertModel-shaped network from torch.nn.TransformerEncoderLayer (post-LayerNorm, exact erf GELU,
LayerNorm eps 1e-12 -- what BERT's layers compute) plus BERT's embeddings (word + position + token type 0,
LayerNorm) and pooler (tanh dense on [CLS]), from random weights with non-zero biases and non-trivial LayerNorm
parameters. Runs a few fixed token sequences with padding masks in float64 and writes, into
packages/adapters/test/fixtures/golden-bert/:

  config.json           the Hugging Face BertModel config
  model.safetensors     the weights under Hugging Face's BertModel names (float32)
  inputs.json           token ids and attention masks
  expected.safetensors  sequence_output [n, t, h], pooler_output [n, h], mean_pooled [n, h] (float32)

The fixture is committed, so CI needs no torch. Regenerate with Debian's torch (it is for /usr/bin/python3):

  apt-get install -y python3-torch && /usr/bin/python3 packages/adapters/scripts/golden_bert.py
"""

import json
import os
import struct

import numpy as np
import torch
from torch import nn

LAYERS, HIDDEN, HEADS, INTERMEDIATE = 2, 32, 2, 64
VOCAB, POSITIONS, TYPES = 100, 16, 2
EPS = 1e-12
SEQUENCES = [
    [2, 17, 53, 99, 8, 41, 76, 3, 64, 25],
    [2, 88, 11, 30, 5, 3],
    [2, 42, 3],
]

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'test', 'fixtures', 'golden-bert')
rng = np.random.default_rng(20251125)


def uniform(shape, bound, center=0.0):
    return (center + rng.uniform(-bound, bound, size=shape)).astype(np.float32)


def write_safetensors(path, tensors, metadata=None):
    """The safetensors layout written by hand (no safetensors package): u64 header size, JSON header, data."""
    header = {'__metadata__': metadata} if metadata else {}
    offset, chunks = 0, []
    for name, array in tensors.items():
        data = np.ascontiguousarray(array, dtype='<f4').tobytes()
        header[name] = {'dtype': 'F32', 'shape': list(array.shape), 'data_offsets': [offset, offset + len(data)]}
        chunks.append(data)
        offset += len(data)
    encoded = json.dumps(header, separators=(',', ':')).encode('utf-8')
    encoded += b' ' * (-len(encoded) % 8)
    with open(path, 'wb') as f:
        f.write(struct.pack('<Q', len(encoded)))
        f.write(encoded)
        for chunk in chunks:
            f.write(chunk)


def main():
    weights = {}

    def linear(name, d_in, d_out):
        weights[f'{name}.weight'] = uniform((d_out, d_in), np.sqrt(3.0 / d_in))
        weights[f'{name}.bias'] = uniform((d_out,), 0.2)

    def norm(name):
        weights[f'{name}.weight'] = uniform((HIDDEN,), 0.3, 1.0)
        weights[f'{name}.bias'] = uniform((HIDDEN,), 0.2)

    weights['embeddings.word_embeddings.weight'] = uniform((VOCAB, HIDDEN), 1.0)
    weights['embeddings.position_embeddings.weight'] = uniform((POSITIONS, HIDDEN), 0.5)
    weights['embeddings.token_type_embeddings.weight'] = uniform((TYPES, HIDDEN), 0.5)
    norm('embeddings.LayerNorm')
    for i in range(LAYERS):
        p = f'encoder.layer.{i}.'
        for m in ('query', 'key', 'value'):
            linear(f'{p}attention.self.{m}', HIDDEN, HIDDEN)
        linear(f'{p}attention.output.dense', HIDDEN, HIDDEN)
        norm(f'{p}attention.output.LayerNorm')
        linear(f'{p}intermediate.dense', HIDDEN, INTERMEDIATE)
        linear(f'{p}output.dense', INTERMEDIATE, HIDDEN)
        norm(f'{p}output.LayerNorm')
    linear('pooler.dense', HIDDEN, HIDDEN)

    t = {k: torch.tensor(v, dtype=torch.float64) for k, v in weights.items()}
    layers = []
    for i in range(LAYERS):
        p = f'encoder.layer.{i}.'
        layer = nn.TransformerEncoderLayer(
            HIDDEN, HEADS, INTERMEDIATE, dropout=0.0, activation='gelu', layer_norm_eps=EPS,
            batch_first=True, norm_first=False, dtype=torch.float64,
        )
        with torch.no_grad():
            q, k, v = (t[f'{p}attention.self.{m}.weight'] for m in ('query', 'key', 'value'))
            layer.self_attn.in_proj_weight.copy_(torch.cat([q, k, v], 0))
            layer.self_attn.in_proj_bias.copy_(
                torch.cat([t[f'{p}attention.self.{m}.bias'] for m in ('query', 'key', 'value')], 0))
            layer.self_attn.out_proj.weight.copy_(t[f'{p}attention.output.dense.weight'])
            layer.self_attn.out_proj.bias.copy_(t[f'{p}attention.output.dense.bias'])
            layer.norm1.weight.copy_(t[f'{p}attention.output.LayerNorm.weight'])
            layer.norm1.bias.copy_(t[f'{p}attention.output.LayerNorm.bias'])
            layer.linear1.weight.copy_(t[f'{p}intermediate.dense.weight'])
            layer.linear1.bias.copy_(t[f'{p}intermediate.dense.bias'])
            layer.linear2.weight.copy_(t[f'{p}output.dense.weight'])
            layer.linear2.bias.copy_(t[f'{p}output.dense.bias'])
            layer.norm2.weight.copy_(t[f'{p}output.LayerNorm.weight'])
            layer.norm2.bias.copy_(t[f'{p}output.LayerNorm.bias'])
        # Training mode (dropout is 0) keeps PyTorch off its fused inference fast path: the plain module math.
        layer.train()
        layers.append(layer)

    seq_len = max(len(s) for s in SEQUENCES)
    ids = torch.zeros((len(SEQUENCES), seq_len), dtype=torch.long)
    mask = torch.zeros((len(SEQUENCES), seq_len), dtype=torch.float64)
    for row, seq in enumerate(SEQUENCES):
        ids[row, : len(seq)] = torch.tensor(seq)
        mask[row, : len(seq)] = 1

    with torch.no_grad():
        x = (t['embeddings.word_embeddings.weight'][ids]
             + t['embeddings.position_embeddings.weight'][:seq_len].unsqueeze(0)
             + t['embeddings.token_type_embeddings.weight'][0])
        x = nn.functional.layer_norm(
            x, (HIDDEN,), t['embeddings.LayerNorm.weight'], t['embeddings.LayerNorm.bias'], EPS)
        for layer in layers:
            x = layer(x, src_key_padding_mask=mask == 0)
        pooled = torch.tanh(x[:, 0] @ t['pooler.dense.weight'].T + t['pooler.dense.bias'])
        mean = (x * mask.unsqueeze(-1)).sum(1) / mask.sum(1, keepdim=True)

    os.makedirs(OUT, exist_ok=True)
    config = {
        'architectures': ['BertModel'],
        'model_type': 'bert',
        'vocab_size': VOCAB,
        'hidden_size': HIDDEN,
        'num_hidden_layers': LAYERS,
        'num_attention_heads': HEADS,
        'intermediate_size': INTERMEDIATE,
        'hidden_act': 'gelu',
        'max_position_embeddings': POSITIONS,
        'type_vocab_size': TYPES,
        'layer_norm_eps': EPS,
        'pad_token_id': 0,
        'position_embedding_type': 'absolute',
    }
    with open(os.path.join(OUT, 'config.json'), 'w') as f:
        json.dump(config, f, indent=2)
        f.write('\n')
    write_safetensors(os.path.join(OUT, 'model.safetensors'), weights, {'format': 'pt'})
    with open(os.path.join(OUT, 'inputs.json'), 'w') as f:
        json.dump({'ids': ids.tolist(), 'mask': mask.int().tolist(), 'torch': torch.__version__}, f, indent=2)
        f.write('\n')
    write_safetensors(os.path.join(OUT, 'expected.safetensors'), {
        'sequence_output': x.numpy().astype(np.float32),
        'pooler_output': pooled.numpy().astype(np.float32),
        'mean_pooled': mean.numpy().astype(np.float32),
    }, {'dtype_computed': 'float64', 'torch': torch.__version__})
    print(f'wrote {OUT}')


if __name__ == '__main__':
    main()
