"""LoRA and QLoRA training on a GPU through ftkit, on TinyLlama-1.1B- and Llama-3-8B-shaped models with random weights.

    python bench/gpu_train.py [--shapes tinyllama-1.1b llama3-8b] [--methods lora qlora] [--steps 6] [--seq 2048]
                              [--batch 4] [--baseline] [--json bench/results/gpu_train.json]

Needs CUDA (and bitsandbytes for QLoRA); exits with a one-line message otherwise. Nothing is downloaded: each shape
is built from its config with random bf16 weights, saved once to a temporary folder, and loaded back through
`ftkit.models.load_model` (so QLoRA goes through the real `BitsAndBytesConfig` path), then trained by
`ftkit.train.make_trainer` on random token ids for `--steps` optimizer steps (gradient checkpointing on, bf16,
adamw_torch_fused). Reported per run: peak `torch.cuda.max_memory_allocated()`, tokens/s over the steps after the
first (warm-up excluded) and MFU = model FLOPs / (time x peak bf16 FLOPS), counting 6·N·tokens for a full step
minus the weight gradients LoRA skips (4·N·tokens, recomputation not counted). `--baseline` also runs a plain
`transformers.Trainer` + peft script on the same shape (LoRA), for the issue's "at least matches" check."""
import argparse, json, os, shutil, sys, tempfile, time
from pathlib import Path
import torch

DRY = '--dry' in sys.argv  # run the whole script on CPU with tiny shapes: checks the code, measures nothing
sync = (lambda: None) if DRY else torch.cuda.synchronize

SHAPES = {  # public configs of the real models (TinyLlama/TinyLlama-1.1B, meta-llama/Meta-Llama-3-8B)
    'tinyllama-1.1b': dict(hidden_size=2048, intermediate_size=5632, num_hidden_layers=22, num_attention_heads=32,
                           num_key_value_heads=4, vocab_size=32000, max_position_embeddings=2048, rope_theta=10000.0),
    'llama3-8b': dict(hidden_size=4096, intermediate_size=14336, num_hidden_layers=32, num_attention_heads=32,
                      num_key_value_heads=8, vocab_size=128256, max_position_embeddings=8192, rope_theta=500000.0),
}
PEAK_TFLOPS = {'H100': 989.0, 'H200': 989.0, 'A100': 312.0, 'L40S': 362.0, 'A10': 125.0, 'L4': 121.0}  # dense bf16

def build(shape, root):
    "A folder with a random-weight bf16 model of `shape` and a tiny tokenizer stand-in (ftkit's)."
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM
    out = Path(root)/shape
    if (out/'config.json').exists(): return out
    torch.manual_seed(0)
    cfg = LlamaConfig(**SHAPES[shape], tie_word_embeddings=False)
    with torch.device('cpu' if DRY else 'cuda'): m = LlamaForCausalLM(cfg).to(torch.bfloat16)
    m.save_pretrained(out); del m; torch.cuda.empty_cache()
    from ftkit.models import tiny_model_dir
    AutoTokenizer.from_pretrained(tiny_model_dir()).save_pretrained(out)  # only pad/eos ids are used
    return out

def data(n_rows, seq, vocab):
    from datasets import Dataset
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(3, vocab, (n_rows, seq), generator=g).tolist()
    return Dataset.from_dict({'input_ids': ids, 'attention_mask': [[1] * seq] * n_rows, 'labels': ids})

def step_timer():
    "A Trainer callback recording the wall time of each optimizer step."
    from transformers import TrainerCallback
    class StepTimer(TrainerCallback):
        times = []
        def on_step_begin(self, *a, **k): sync(); self.t = time.perf_counter()
        def on_step_end(self, *a, **k): sync(); self.times.append(time.perf_counter() - self.t)
    t = StepTimer(); t.times = []
    return t

def run(shape, method, path, a, baseline=False):
    from ftkit.config import load_config
    from ftkit.models import load_model, load_tokenizer
    from ftkit.train import Progress, add_adapter, make_trainer, count_params
    kw = dict(adapter=method, lora_target_linear=True, lora_r=16, lora_alpha=32, load_in_4bit=method == 'qlora')
    cfg = load_config({'datasets': [{'path': 'x.jsonl', 'type': 'completion'}], 'base_model': str(path), **kw,
                       'bf16': True, 'micro_batch_size': a.batch, 'max_steps': a.steps, 'sequence_len': a.seq,
                       'gradient_checkpointing': True, 'optimizer': 'adamw_torch_fused', 'learning_rate': 1e-4,
                       'logging_steps': a.steps, 'output_dir': tempfile.mkdtemp()})
    tok = load_tokenizer(cfg)
    if not DRY: torch.cuda.empty_cache(); torch.cuda.reset_peak_memory_stats()
    timer = step_timer()
    ds = data(a.steps * a.batch, a.seq, SHAPES[shape]['vocab_size'])
    if baseline: trainer = plain_trainer(cfg, path, tok, ds, timer)
    else:
        model = add_adapter(load_model(cfg), cfg)
        trainer = make_trainer(cfg, model, tok, ds, callbacks=[timer]); trainer.remove_callback(Progress)
    trainer.train()
    step_s = sum(timer.times[1:]) / max(len(timer.times) - 1, 1)
    tok_s = a.batch * a.seq / step_s
    name = 'CPU (dry run)' if DRY else torch.cuda.get_device_name()
    peak = PEAK_TFLOPS.get(next((k for k in PEAK_TFLOPS if k in name), ''), a.peak_tflops)
    mfu = 4 * _n_params(shape) * tok_s / (peak * 1e12) if peak else None
    r = dict(shape=shape, method=method, runner='plain Trainer + peft' if baseline else 'ftkit', seq=a.seq, batch=a.batch,
             steps=a.steps, peak_alloc_gib=0 if DRY else torch.cuda.max_memory_allocated() / 2**30, tokens_per_s=tok_s, mfu=mfu,
             trainable=count_params(trainer.model)[0], device=name, torch=torch.__version__)
    del trainer; torch.cuda.empty_cache()
    return r

def _n_params(shape):
    "Parameters of `shape` (embeddings and head included), from its config."
    s = SHAPES[shape]; h, i, L, V = s['hidden_size'], s['intermediate_size'], s['num_hidden_layers'], s['vocab_size']
    kv = h // s['num_attention_heads'] * s['num_key_value_heads']
    return L * (2 * h * h + 2 * h * kv + 3 * h * i + 2 * h) + 2 * V * h + h

def plain_trainer(cfg, path, tok, ds, timer):
    "The hand-written baseline: from_pretrained in bf16, get_peft_model, TrainingArguments, Trainer."
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, Trainer, TrainingArguments, default_data_collator
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.bfloat16, device_map=None if DRY else {'': 0})
    model = get_peft_model(model, LoraConfig(r=cfg.lora_r, lora_alpha=cfg.lora_alpha, lora_dropout=cfg.lora_dropout,
                                             target_modules='all-linear', task_type='CAUSAL_LM'))
    args = TrainingArguments(cfg.output_dir, bf16=True, per_device_train_batch_size=cfg.micro_batch_size, max_steps=cfg.max_steps,
                             learning_rate=cfg.learning_rate, optim='adamw_torch_fused', gradient_checkpointing=True,
                             gradient_checkpointing_kwargs={'use_reentrant': False}, save_strategy='no', report_to=[], use_cpu=DRY,
                             logging_steps=cfg.max_steps, disable_tqdm=True)
    return Trainer(model=model, args=args, train_dataset=ds, data_collator=default_data_collator, callbacks=[timer])

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--shapes', nargs='+', default=list(SHAPES), choices=list(SHAPES))
    ap.add_argument('--methods', nargs='+', default=['lora', 'qlora'], choices=['lora', 'qlora'])
    ap.add_argument('--steps', type=int, default=6)
    ap.add_argument('--seq', type=int, default=2048)
    ap.add_argument('--batch', type=int, default=4)
    ap.add_argument('--baseline', action='store_true', help='also run a plain Trainer + peft LoRA on each shape')
    ap.add_argument('--peak-tflops', type=float, default=None, help='dense bf16 peak of the GPU, if not in the table')
    ap.add_argument('--json', help='write the results here')
    ap.add_argument('--dry', action='store_true', help='CPU smoke test of this script with tiny shapes (no figures)')
    a = ap.parse_args()
    if DRY:
        for s in SHAPES.values(): s.update(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2)
    elif not torch.cuda.is_available(): sys.exit('bench/gpu_train.py needs a CUDA GPU; none found (nothing measured)')
    if 'qlora' in a.methods:
        try: import bitsandbytes  # noqa: F401
        except ImportError: sys.exit('QLoRA needs bitsandbytes: pip install bitsandbytes (or pass --methods lora)')
    root, rows = tempfile.mkdtemp(prefix='ftkit-gpu-'), []
    try:
        for shape in a.shapes:
            path = build(shape, root)
            jobs = [(m, False) for m in a.methods] + ([('lora', True)] if a.baseline else [])
            for method, base in jobs:
                try: r = run(shape, method, path, a, base)
                except torch.OutOfMemoryError: r = dict(shape=shape, method=method, runner='baseline' if base else 'ftkit', oom=True)
                rows.append(r); print(json.dumps(r), flush=True)
                if a.json: Path(a.json).parent.mkdir(parents=True, exist_ok=True); Path(a.json).write_text(json.dumps(rows, indent=2))
    finally: shutil.rmtree(root, ignore_errors=True)
    print(f'\n| shape | method | runner | seq x batch | peak GiB | tokens/s | MFU |\n|---|---|---|---|---|---|---|')
    for r in rows:
        if r.get('oom'): print(f"| {r['shape']} | {r['method']} | {r['runner']} | | OOM | | |"); continue
        mfu = f"{r['mfu']:.1%}" if r['mfu'] else '?'
        print(f"| {r['shape']} | {r['method']} | {r['runner']} | {r['seq']}x{r['batch']} | {r['peak_alloc_gib']:.2f} | {r['tokens_per_s']:,.0f} | {mfu} |")
    if a.json: Path(a.json).parent.mkdir(parents=True, exist_ok=True); Path(a.json).write_text(json.dumps(rows, indent=2))

if __name__ == '__main__': main()
