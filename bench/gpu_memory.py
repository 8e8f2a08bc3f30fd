"""Measure the peak GPU memory of fine-tuning recipes and compare it with `ftkit.memory.estimate_memory`.

Needs a CUDA GPU (and bitsandbytes for the QLoRA rows). For each configuration: build a random-weight model of
a real shape (nothing is downloaded), apply the recipe, run a few optimizer steps on random tokens under bf16
autocast, and record `torch.cuda.max_memory_allocated()` over the steps, weights included. Recipes (the ones
`estimate_memory` models, and those of the H200 runs recorded in bench/memory-h200.json):

  full_mixed  fp32 weights, bf16 autocast, torch AdamW (foreach)
  full_bf16   bf16 weights, bf16 autocast, torch AdamW (foreach)
  lora        frozen bf16 base, peft LoRA r=16 on every linear layer of the blocks (adapters fp32), AdamW
  qlora       a bf16 checkpoint loaded in NF4 + double quant + bf16 compute, prepare_model_for_kbit_training,
              LoRA as above
  all         HF causal-LM loss (labels = input_ids), sdpa attention, non-reentrant gradient checkpointing

    python bench/gpu_memory.py              # the default configurations
    python bench/gpu_memory.py --only qwen  # configurations whose shape contains 'qwen'
    python bench/gpu_memory.py --dry        # CPU smoke test of this script with tiny shapes (no figures)

Writes bench/results/gpu_memory.json and prints a markdown table: measured, estimate, error.
"""
import argparse, gc, json, sys, time, warnings
from pathlib import Path

import torch
from transformers import AutoConfig, AutoModelForCausalLM

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from ftkit.memory import RECIPES, estimate_memory  # noqa: E402

GiB = 2**30
SHAPES = {  # architecture numbers from the models' config.json
    'tinyllama-1.1b': dict(model_type='llama', hidden_size=2048, intermediate_size=5632, num_hidden_layers=22,
                           num_attention_heads=32, num_key_value_heads=4, vocab_size=32000),
    'llama3-8b': dict(model_type='llama', hidden_size=4096, intermediate_size=14336, num_hidden_layers=32,
                      num_attention_heads=32, num_key_value_heads=8, vocab_size=128256),
    'mistral-7b': dict(model_type='mistral', hidden_size=4096, intermediate_size=14336, num_hidden_layers=32,
                       num_attention_heads=32, num_key_value_heads=8, vocab_size=32000),
    'qwen2.5-1.5b': dict(model_type='qwen2', hidden_size=1536, intermediate_size=8960, num_hidden_layers=28,
                         num_attention_heads=12, num_key_value_heads=2, vocab_size=151936,
                         tie_word_embeddings=True),
    'qwen3-1.7b': dict(model_type='qwen3', hidden_size=2048, intermediate_size=6144, num_hidden_layers=28,
                       num_attention_heads=16, num_key_value_heads=8, head_dim=128, vocab_size=151936,
                       tie_word_embeddings=True),
    'llama3.2-1b': dict(model_type='llama', hidden_size=2048, intermediate_size=8192, num_hidden_layers=16,
                        num_attention_heads=32, num_key_value_heads=8, head_dim=64, vocab_size=128256,
                        tie_word_embeddings=True),
}
CONFIGS = [  # shape, recipe, seq_len, micro batch, gradient checkpointing, optimizer
    ('tinyllama-1.1b', 'full_bf16', 1024, 2, True, 'adamw'),
    ('tinyllama-1.1b', 'lora', 1024, 8, False, 'adamw'),
    ('tinyllama-1.1b', 'qlora', 4096, 2, True, 'adamw'),
    ('tinyllama-1.1b', 'full_bf16', 2048, 1, False, 'adamw_8bit'),
    ('llama3.2-1b', 'lora', 2048, 2, False, 'adamw'),
    ('llama3.2-1b', 'qlora', 2048, 4, True, 'adamw'),
    ('llama3.2-1b', 'full_mixed', 1024, 1, True, 'adamw'),
    ('qwen2.5-1.5b', 'lora', 2048, 1, False, 'adamw'),
    ('qwen2.5-1.5b', 'qlora', 2048, 2, True, 'adamw'),
    ('qwen3-1.7b', 'lora', 2048, 2, True, 'adamw'),
    ('qwen3-1.7b', 'qlora', 1024, 2, False, 'adamw'),
    ('mistral-7b', 'qlora', 2048, 2, True, 'adamw'),
    ('mistral-7b', 'lora', 1024, 1, False, 'adamw'),
    ('llama3-8b', 'qlora', 8192, 1, True, 'adamw'),
    ('llama3-8b', 'lora', 4096, 1, True, 'adamw'),
]
TARGETS = ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj']


class _NoCuda:  # --dry: stand-in for torch.cuda memory calls
    def __getattr__(self, name): return lambda *a, **k: 0


def config_of(shape, dry):
    numbers = dict(SHAPES[shape])
    if dry:
        numbers.update(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                       num_key_value_heads=2, head_dim=16, vocab_size=512)
    return AutoConfig.for_model(**numbers, attn_implementation='sdpa')


def build(config, dtype, device):
    with torch.device(device):
        return AutoModelForCausalLM.from_config(config, dtype=dtype, attn_implementation='sdpa')


def load_4bit(config, device, tmp):
    "Save a random bf16 checkpoint once, then load it in NF4 the way users load a hub model."
    from transformers import BitsAndBytesConfig
    name = f'{config.model_type}-{config.hidden_size}-{config.num_hidden_layers}-{config.vocab_size}'
    path = Path(tmp)/name
    if not (path/'config.json').exists():  # random init is far faster on the GPU; freed before measuring
        build(config, torch.bfloat16, device).save_pretrained(path)
        if device == 'cuda': torch.cuda.empty_cache()
    q = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type='nf4', bnb_4bit_use_double_quant=True,
                           bnb_4bit_compute_dtype=torch.bfloat16)
    return AutoModelForCausalLM.from_pretrained(path, quantization_config=q, dtype=torch.bfloat16,
                                                attn_implementation='sdpa',
                                                device_map={'': 0 if device == 'cuda' else 'cpu'})


def make_optimizer(params, name):
    if name == 'adamw_8bit':
        import bitsandbytes as bnb
        return bnb.optim.AdamW8bit(params, lr=1e-5)
    return torch.optim.AdamW(params, lr=1e-5, foreach=True, fused=False)


def measure(shape, recipe, seq, batch, gckpt, optim, dry=False, steps=4, tmp='/tmp/ftkit-bench'):
    from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training
    device = 'cpu' if dry else 'cuda'
    cuda = _NoCuda() if dry else torch.cuda
    config = config_of(shape, dry)
    gc.collect()
    cuda.empty_cache()
    base = cuda.memory_allocated()
    if recipe == 'qlora': model = load_4bit(config, device, tmp)
    else: model = build(config, torch.float32 if recipe == 'full_mixed' else torch.bfloat16, device)
    if gckpt: model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={'use_reentrant': False})
    if recipe == 'qlora':
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=gckpt,
                                                gradient_checkpointing_kwargs={'use_reentrant': False})
    if recipe in ('lora', 'qlora'):
        lora = LoraConfig(r=16, lora_alpha=32, lora_dropout=0.0, target_modules=TARGETS,
                          task_type='CAUSAL_LM')
        model = get_peft_model(model, lora)
    model.config.use_cache = False
    model.train()
    opt = make_optimizer([p for p in model.parameters() if p.requires_grad], optim)
    cuda.synchronize()
    cuda.reset_peak_memory_stats()
    n = seq if not dry else 16
    for _ in range(steps):
        ids = torch.randint(0, config.vocab_size, (batch, n), device=device)
        with torch.autocast(device, dtype=torch.bfloat16):
            out = model(input_ids=ids, labels=ids)
        out.loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        del out  # the estimate's default (keep_logits=True) counts the logits alive until here
    cuda.synchronize()
    peak = (cuda.max_memory_allocated() - base)/GiB
    reserved = cuda.max_memory_reserved()/GiB
    del model, opt
    gc.collect()
    cuda.empty_cache()
    return peak, reserved


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--only', default='', help='run only configurations whose shape contains this')
    ap.add_argument('--dry', action='store_true', help='CPU smoke test with tiny shapes; no figures')
    ap.add_argument('--out', default=str(Path(__file__).parent/'results'/'gpu_memory.json'))
    args = ap.parse_args()
    if not args.dry and not torch.cuda.is_available():
        sys.exit('bench/gpu_memory.py needs a CUDA GPU (or --dry for a CPU smoke test of the script)')
    gpu = None if args.dry else torch.cuda.get_device_name(0)
    meta = dict(torch=torch.__version__, gpu=gpu, dry=args.dry, date=time.strftime('%Y-%m-%d'))
    rows = []
    print('| shape | recipe | seq | batch | grad ckpt | optimizer | measured GiB | estimate GiB | error |\n'
          '|---|---|---|---|---|---|---|---|---|')
    for shape, recipe, seq, batch, gckpt, optim in CONFIGS:
        if args.only not in shape: continue
        est = estimate_memory(config_of(shape, args.dry), seq_len=16 if args.dry else seq,
                              micro_batch_size=batch, gradient_checkpointing=gckpt, optimizer=optim,
                              **RECIPES[recipe]).peak_allocated_gib
        try: peak, reserved = measure(shape, recipe, seq, batch, gckpt, optim, args.dry)
        except torch.OutOfMemoryError: peak = reserved = None
        err = None if not peak else 100*(est/peak - 1)
        rows.append(dict(shape=shape, recipe=recipe, seq=seq, batch=batch, grad_ckpt=gckpt, optim=optim,
                         measured_gib=peak, reserved_gib=reserved, estimate_gib=est, error_pct=err))
        measured = 'OOM' if peak is None else f'{peak:.2f}'
        error = '-' if err is None else f'{err:+.1f}%'
        print(f'| {shape} | {recipe} | {seq} | {batch} | {gckpt} | {optim} | {measured} | {est:.2f} '
              f'| {error} |', flush=True)
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(dict(meta=meta, results=rows), indent=1))


if __name__ == '__main__':
    warnings.filterwarnings('ignore')
    main()
