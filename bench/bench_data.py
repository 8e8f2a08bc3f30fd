"""Data benchmarks: preprocessing throughput, packing efficiency, training tokens/s packed vs padded.

    HF_HUB_OFFLINE=1 python bench/bench_data.py                          # all of it, CPU, 2 threads (~15 min on 2 busy cores)
    FTKIT_THREADS=1 HF_HUB_OFFLINE=1 python bench/bench_data.py --skip-preprocess --steps 4 --rounds 2   # training only
    HF_HUB_OFFLINE=1 python bench/bench_data.py --gpu                    # also a 1B Llama shape on CUDA (sdpa; flash-attn if installed)

Preprocessing is timed like `ftkit preprocess` does it: load the JSONL, template, tokenize, mask, filter, save to
disk — with a fresh datasets cache each time, so nothing is reused. The course's 100-row Honeycomb sample (in
../shared, skipped cleanly when absent) is repeated to 5,000 rows. Training throughput counts only real (non-pad)
tokens, for batches padded to their longest row and for best-fit-decreasing packed rows, in interleaved rounds. On a
shared machine wall-clock figures swing with the neighbours' load; tokens per CPU-second of this process (with one
thread, so no spin-waiting is counted) is the steadier comparison on CPU.
"""
import argparse, json, os, statistics, sys, tempfile, time
from pathlib import Path
os.environ.setdefault('HF_HUB_OFFLINE', '1'); os.environ.setdefault('TRANSFORMERS_VERBOSITY', 'error')
import datasets, torch
from ftkit.config import load_config
from ftkit.data import IGNORE, PackedCollator, best_bins, pack_bins, pack_dataset, packing_bound, packing_efficiency, prepare_dataset
from ftkit.models import load_model, load_tokenizer

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT.parent/'shared'/'data'/'honeycomb-sample'/'alpaca_synth_queries.jsonl'
QUICK = ROOT/'examples'/'honeycomb-tiny.yml'

def sources(tmp):
    "`{name: jsonl path}`: the bundled data, and the course sample repeated to 5,000 rows when ../shared exists."
    out = {'bundled honeycomb (4,000 rows)': 'ftkit:honeycomb/train.jsonl'}
    if SAMPLE.exists():
        rows = SAMPLE.read_text().splitlines()
        p = Path(tmp)/'sample5000.jsonl'; p.write_text('\n'.join((rows * (5000 // len(rows) + 1))[:5000]) + '\n')
        out['course sample x50 (5,000 rows)'] = str(p)
    else: print(f'skipping the course sample: {SAMPLE} not found')
    return out

def time_preprocess(path, tok, num_proc, tmp):
    "Seconds for load + tokenize + mask + filter + save of `path`, with a fresh datasets cache."
    cache = tempfile.mkdtemp(dir=tmp)
    datasets.config.HF_DATASETS_CACHE = Path(cache)/'hf'
    cfg = load_config(str(QUICK), datasets=[{'path': path, 'type': 'sharegpt', 'conversation': 'alpaca'}],
                      dataset_prepared_path=str(Path(cache)/'prepared'), sequence_len=1024)
    t = time.perf_counter()
    ds, rep = prepare_dataset(cfg, tok, verbose=False, num_proc=num_proc)
    return time.perf_counter() - t, ds, rep

def bench_preprocess(tmp):
    tok = load_tokenizer(load_config(str(QUICK)))
    res = {}
    for name, path in sources(tmp).items():
        for nproc in (None, 2):
            secs = [time_preprocess(path, tok, nproc, tmp)[0] for _ in range(3)]
            _, ds, rep = time_preprocess(path, tok, nproc, tmp)
            s = statistics.median(secs)
            res[f'{name}, num_proc={nproc or 1}'] = dict(rows=rep['rows'], seconds=round(s, 2), examples_per_s=round(rep['rows'] / s))
        packed = pack_dataset(ds, 1024)
        res[f'{name}, packing efficiency @1024'] = round(packing_efficiency(packed, 1024), 4)
    return res

def sample_tokenizer(path, vocab_size=4096):
    "A Llama-style byte-fallback BPE of `vocab_size` pieces trained on the course sample (the issue's axolotl setup used a 4k one)."
    from ftkit.synth import train_tokenizer
    from ftkit.data import sharegpt_segments
    rows = [json.loads(l) for l in Path(path).read_text().splitlines()[:100]]
    return train_tokenizer([t for r in rows for t, _ in sharegpt_segments(r)], vocab_size)

def bench_sample_4k(tmp):
    "Preprocessing throughput and packing efficiency on the course sample x50 with a 4k tokenizer trained on it."
    src = sources(tmp)
    path = next((v for k, v in src.items() if k.startswith('course sample')), None)
    if path is None: return {}
    tok = sample_tokenizer(path)
    secs = [time_preprocess(path, tok, None, tmp)[0] for _ in range(3)]
    _, ds, rep = time_preprocess(path, tok, None, tmp)
    lens = [len(x) for x in ds['input_ids']]
    return {'course sample x50, 4k tokenizer': dict(rows=rep['rows'], seconds=round(statistics.median(secs), 2),
            examples_per_s=round(rep['rows'] / statistics.median(secs)), mean_tokens=round(sum(lens) / len(lens)),
            packing_efficiency_1024=round(packing_efficiency(pack_dataset(ds, 1024), 1024), 4))}

def bench_packing(tmp, capacities=(512, 1024, 2048, 4096)):
    "Packing efficiency (best-fit decreasing alone, and ftkit's best of two packers) and the best any packing could reach, per data, tokenizer and `sequence_len`."
    quick_tok = load_tokenizer(load_config(str(QUICK)))
    res = {}
    for name, path in sources(tmp).items():
        toks = [('bundled 1.7k tokenizer', quick_tok)] + ([('4k tokenizer trained on it', sample_tokenizer(path))] if 'sample' in name else [])
        for tname, tok in toks:
            lens = [len(x) for x in time_preprocess(path, tok, None, tmp)[1]['input_ids']]
            for c in capacities:
                if max(lens) > c: continue
                eff = lambda bins: round(sum(lens) / (len(bins) * c), 4)
                res[f'{name}, {tname}, {c}'] = dict(best_fit_decreasing=eff(pack_bins(lens, c)), ftkit=eff(best_bins(lens, c)),
                                                    best_possible=round(packing_bound(lens, c), 4), mean_tokens=round(sum(lens) / len(lens)))
    return res

def batches(ds, tok, packed, bs, order):
    "`(batch, real tokens)` over `ds` rows in `order`: padded to the longest row, or packed rows via `PackedCollator`."
    col = PackedCollator(tok)
    for i in range(0, len(order) - bs + 1, bs):
        rows = [ds[j] for j in order[i:i + bs]]
        real = sum(len(r['input_ids']) for r in rows)
        if packed: yield col(rows), real; continue
        n = max(len(r['input_ids']) for r in rows)
        pad = lambda r, k, v: r[k] + [v] * (n - len(r[k]))
        yield dict(input_ids=torch.tensor([pad(r, 'input_ids', tok.pad_token_id) for r in rows]),
                   attention_mask=torch.tensor([pad(r, 'attention_mask', 0) for r in rows]),
                   labels=torch.tensor([pad(r, 'labels', IGNORE) for r in rows])), real

def tokens_per_s(model, it, steps, warmup=2, device='cpu'):
    "`(wall, cpu)`: real (non-pad) tokens per wall second and per CPU second of this process, forward + backward + AdamW."
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    model.train(); n_tok, t, c = 0, time.perf_counter(), time.process_time()
    for k, (b, real) in enumerate(it):
        if k == warmup:
            if device == 'cuda': torch.cuda.synchronize()
            t, c, n_tok = time.perf_counter(), time.process_time(), 0
        if k == warmup + steps: break
        b = {key: v.to(device) if hasattr(v, 'to') else v for key, v in b.items()}
        with torch.autocast(device, dtype=torch.bfloat16, enabled=device == 'cuda'):
            loss = model(**b).loss
        loss.backward(); opt.step(); opt.zero_grad(set_to_none=True)
        n_tok += real
    if device == 'cuda': torch.cuda.synchronize()
    return n_tok / (time.perf_counter() - t), n_tok / (time.process_time() - c)

def variants(ds, bs, attns=('sdpa', 'varlen')):
    "`(name, rows, packed, batch size, order, attention)` for each way of batching `ds` that is compared."
    by_len = sorted(range(len(ds)), key=lambda i: len(ds[i]['input_ids']))
    groups = [by_len[i:i + bs] for i in range(0, len(by_len) - bs + 1, bs)]
    grouped = [j for g in torch.randperm(len(groups)).tolist() for j in groups[g]]
    p512, p1024 = pack_dataset(ds, 512), pack_dataset(ds, 1024)
    out = [(f'padded to longest, random batches of {bs}, sdpa', ds, False, bs, torch.randperm(len(ds)).tolist(), 'sdpa'),
           (f'padded to longest, length-grouped batches of {bs}, sdpa', ds, False, bs, grouped, 'sdpa')]
    for attn in attns:
        out += [(f'packed, sequence_len 512, batches of {bs // 2}, {attn}', p512, True, bs // 2, torch.randperm(len(p512)).tolist(), attn),
                (f'packed, sequence_len 1024, batches of {bs // 4}, {attn}', p1024, True, bs // 4, torch.randperm(len(p1024)).tolist(), attn)]
    return out

def bench_train(make_model, ds, tok, steps, device='cpu', bs=16, rounds=3, attns=('sdpa', 'varlen')):
    "Real tokens per second (wall: median, best) and per CPU-second of `rounds` interleaved runs of each variant."
    torch.manual_seed(0)
    vs = variants(ds, bs, attns)
    runs = {v[0]: [] for v in vs}
    for r in range(rounds):  # interleaved, so a busy moment on a shared machine does not land on one variant only
        for name, data, packed, b, order, attn in vs:
            torch.manual_seed(0)
            m = make_model(attn)
            runs[name].append(tokens_per_s(m, batches(data, tok, packed, b, order[r * (steps + 2) * b:]), steps, device=device))
            del m
            print(f'  round {r}: {name}: {runs[name][-1][0]:.0f} tokens/s, {runs[name][-1][1]:.0f} tokens/CPU-s', flush=True)
    return {k: dict(wall_median=round(statistics.median(w for w, _ in v)), wall_best=round(max(w for w, _ in v)),
                    per_cpu_s_median=round(statistics.median(c for _, c in v))) for k, v in runs.items()}

GPU_SHAPE = dict(vocab_size=32000, hidden_size=2048, intermediate_size=5632, num_hidden_layers=22, num_attention_heads=32,
                 num_key_value_heads=4, max_position_embeddings=2048)  # TinyLlama-1.1B

def gpu_model(shape=GPU_SHAPE, device='cuda'):
    "A random-init Llama of `shape` (default: the TinyLlama-1.1B config) in bf16 on `device`, sdpa attention."
    from transformers import LlamaConfig, LlamaForCausalLM
    torch.manual_seed(0)
    with torch.device(device): return LlamaForCausalLM(LlamaConfig(**shape, attn_implementation='sdpa')).to(torch.bfloat16)

def with_attention(model, attn):
    "`model`, switched to attention kernel `attn` (one model serves every variant: building a 1B model takes longer than timing it)."
    from ftkit.models import register_varlen
    register_varlen(); model.set_attn_implementation(attn)
    return model

def packed_vs_alone(model, ds, attn, device='cuda', n=8):
    "`(max, mean)` per-token loss difference: `n` examples packed in one row with kernel `attn`, vs each run alone with sdpa."
    few = [ds[i] for i in range(n)]
    lens = [len(x['input_ids']) for x in few]
    t = lambda x: torch.tensor([x], device=device)
    def ce(ids, labels, **kw):
        logits = model(input_ids=ids, use_cache=False, **kw).logits[0, :-1].float()
        return torch.nn.functional.cross_entropy(logits, labels[0, 1:], reduction='none', ignore_index=IGNORE)
    model.eval()
    with torch.no_grad(), torch.autocast(device, dtype=torch.bfloat16, enabled=device == 'cuda'):
        with_attention(model, 'sdpa')
        alone = torch.cat([ce(t(x['input_ids']), t(x['labels'])) for x in few])
        with_attention(model, attn)
        full = ce(t(sum((x['input_ids'] for x in few), [])), t(sum(([IGNORE] + x['labels'][1:] for x in few), [])),
                  position_ids=t([i for n_ in lens for i in range(n_)]))
    model.train()
    starts = [sum(lens[:i]) for i in range(n)]
    d = (torch.cat([full[a:a + n_ - 1] for a, n_ in zip(starts, lens)]) - alone).abs()
    return float(d.max()), float(d[alone != 0].mean())

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--steps', type=int, default=6, help='timed training steps per variant and round (after 2 warm-up steps)')
    ap.add_argument('--rounds', type=int, default=3, help='interleaved rounds per variant')
    ap.add_argument('--skip-preprocess', action='store_true')
    ap.add_argument('--skip-cpu-train', action='store_true')
    ap.add_argument('--gpu', action='store_true', help='also time a 1B Llama shape on CUDA')
    ap.add_argument('--gpu-batch', type=int, default=64, help='examples per padded batch on the GPU (packed: a half / a quarter as many rows)')
    ap.add_argument('--dry-gpu', action='store_true', help='run the --gpu code on CPU with a tiny shape (checks the script, no figures)')
    ap.add_argument('--json', help='write the results to this file (after each part)')
    a = ap.parse_args()
    torch.set_num_threads(int(os.environ.get('FTKIT_THREADS', '2')))
    datasets.disable_progress_bars()
    res = {'machine': f'{os.cpu_count()} CPUs, torch {torch.__version__}, threads {torch.get_num_threads()}'}
    def save(): print(json.dumps(res, indent=1), flush=True); a.json and Path(a.json).write_text(json.dumps(res, indent=1))
    with tempfile.TemporaryDirectory() as tmp:
        if not a.skip_preprocess:
            res['preprocess'] = {**bench_preprocess(tmp), **bench_sample_4k(tmp)}; res['packing'] = bench_packing(tmp); save()
        cfg = load_config(str(QUICK))
        tok = load_tokenizer(cfg)
        ds, _ = prepare_dataset(cfg, tok, verbose=False, pack=False)
        if not a.skip_cpu_train:
            res['train_cpu_tiny_tokens_per_s'] = bench_train(lambda attn: load_model(cfg, attn=attn), ds, tok, a.steps, rounds=a.rounds)
            save()
        if a.gpu or a.dry_gpu:
            if a.gpu and not torch.cuda.is_available(): print('--gpu: no CUDA device here; skipped'); return
            dev = 'cpu' if a.dry_gpu else 'cuda'
            shape = GPU_SHAPE if not a.dry_gpu else dict(GPU_SHAPE, hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2)
            model = gpu_model(shape, dev)
            res['gpu'] = torch.cuda.get_device_name() if dev == 'cuda' else 'dry run on CPU'
            res['gpu_packed_vs_alone_loss_diff'] = {attn: packed_vs_alone(model, ds, attn, dev) for attn in ('sdpa', 'varlen')}; save()
            res['train_gpu_1b_tokens_per_s'] = bench_train(lambda attn: with_attention(model, attn), ds, tok, a.steps, dev, bs=a.gpu_batch, rounds=a.rounds)
            if dev == 'cuda': res['gpu_peak_gib'] = round(torch.cuda.max_memory_allocated() / 2**30, 2)
            save()

if __name__ == '__main__': main()
