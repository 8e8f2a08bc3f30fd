"""ftkit's training step vs a plain `transformers.Trainer` + peft script on the same config (tiny model, CPU).

    HF_HUB_OFFLINE=1 python bench/bench_train.py [--recipe lora|full] [--steps 30] [--rounds 2]

Both sides get the same tokenized rows, the same model, batch, optimizer and schedule; they alternate (A B A B ...)
so background load hits both alike. Reported: optimizer steps/s per side (best round) and the ratio ftkit / plain
(target >= 0.95)."""
import argparse, os, tempfile, time
os.environ.setdefault('HF_HUB_OFFLINE', '1'); os.environ.setdefault('TRANSFORMERS_VERBOSITY', 'error')
from pathlib import Path
import torch
from transformers import AutoModelForCausalLM, DataCollatorForSeq2Seq, Trainer, TrainingArguments, set_seed
from ftkit.config import load_config
from ftkit.models import load_tokenizer, model_source
from ftkit.data import prepare_dataset
from ftkit.train import Progress, add_adapter, make_trainer
from ftkit.models import load_model

QUICK = Path(__file__).resolve().parents[1]/'examples'/'honeycomb-tiny.yml'

def config(recipe, steps, out):
    kw = dict(adapter='lora', lora_target_linear=True, lora_dropout=0.0) if recipe == 'lora' else {}
    return load_config(QUICK, max_steps=steps, save_steps=None, val_set_size=0, logging_steps=steps, warmup_steps=0,
                       eval_steps=None, output_dir=out, **kw)

def run_ftkit(cfg, tok, ds):
    set_seed(cfg.seed)
    t = make_trainer(cfg, add_adapter(load_model(cfg), cfg), tok, ds)
    t.remove_callback(Progress)
    return t.train().metrics['train_runtime']

def run_plain(cfg, tok, ds):
    "What a practitioner writes by hand: from_pretrained, get_peft_model, TrainingArguments, Trainer."
    set_seed(cfg.seed)
    model = AutoModelForCausalLM.from_pretrained(model_source(cfg.base_model), dtype=torch.float32)
    if cfg.adapter:
        from peft import LoraConfig, get_peft_model
        model = get_peft_model(model, LoraConfig(r=cfg.lora_r, lora_alpha=cfg.lora_alpha, lora_dropout=cfg.lora_dropout,
                                                 target_modules='all-linear', task_type='CAUSAL_LM'))
    args = TrainingArguments(cfg.output_dir, use_cpu=True, per_device_train_batch_size=cfg.micro_batch_size,
                             max_steps=cfg.max_steps, learning_rate=cfg.learning_rate, lr_scheduler_type=cfg.lr_scheduler,
                             optim=cfg.optimizer, seed=cfg.seed, data_seed=cfg.seed, logging_steps=cfg.max_steps,
                             save_strategy='no', report_to=[], disable_tqdm=True, remove_unused_columns=False,
                             train_sampling_strategy='group_by_length' if cfg.group_by_length else 'random')
    t = Trainer(model=model, args=args, train_dataset=ds, processing_class=tok,
                data_collator=DataCollatorForSeq2Seq(tok, padding=True, label_pad_token_id=-100, return_tensors='pt'))
    return t.train().metrics['train_runtime']

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--recipe', choices=('lora', 'full'), default='lora')
    ap.add_argument('--steps', type=int, default=30)
    ap.add_argument('--rounds', type=int, default=2)
    a = ap.parse_args()
    cfg = config(a.recipe, a.steps, tempfile.mkdtemp())
    tok = load_tokenizer(cfg)
    ds, _ = prepare_dataset(cfg, tok, verbose=False)
    best = {'ftkit': float('inf'), 'plain': float('inf')}
    for r in range(a.rounds):
        for name, fn in (('ftkit', run_ftkit), ('plain', run_plain)):
            s = fn(cfg, tok, ds); best[name] = min(best[name], s)
            print(f'round {r + 1} {name:5}: {a.steps / s:.2f} steps/s', flush=True)
    ratio = best['plain'] / best['ftkit']
    print(f'{a.recipe}, micro_batch_size {cfg.micro_batch_size}, {a.steps} steps, torch threads {torch.get_num_threads()}: '
          f'ftkit {a.steps / best["ftkit"]:.2f} steps/s, plain Trainer {a.steps / best["plain"]:.2f} steps/s, ratio {ratio:.3f} (target >= 0.95)')

if __name__ == '__main__': main()
