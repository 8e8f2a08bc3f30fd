"""What pretraining buys: the quickstart (LoRA on the pretrained `ftkit:tiny-base`) over 3 seeds, beside the same
budget (1,000 steps, micro batch 8) as a full fine-tune of the same base and from the random-init `ftkit:tiny-llama`.
Each run is `ftkit train`, as a user runs it; the held-out Level-1 pass rates come from its eval_report.json.

    python bench/finetune_cpu.py                      # all runs, two at a time; writes bench/finetune-cpu.json
    python bench/finetune_cpu.py --runs lora-seed42   # some of them
"""
import argparse, json, os, re, subprocess, sys, tempfile, time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
QUICK = str(ROOT/'examples'/'honeycomb-tiny.yml')
RUNS = {  # name: (what it is, config keys changed from the quickstart's)
    'lora-seed42': ('LoRA r=16 on ftkit:tiny-base (the quickstart)', {}),
    'lora-seed1': ('LoRA r=16 on ftkit:tiny-base, seed 1', {'seed': 1}),
    'lora-seed2': ('LoRA r=16 on ftkit:tiny-base, seed 2', {'seed': 2}),
    'full-base': ('full fine-tune of ftkit:tiny-base', {'adapter': None, 'learning_rate': 1e-3}),
    'lora-random': ('LoRA r=16 on the random-init ftkit:tiny-llama', {'base_model': 'ftkit:tiny-llama'}),
    'full-random': ('full fine-tune of the random-init ftkit:tiny-llama',
                    {'base_model': 'ftkit:tiny-llama', 'adapter': None, 'learning_rate': 3e-3}),
}

def trainable_params(changes:dict) -> int:
    "How many parameters the run with config `changes` trains."
    from ftkit.config import load_config
    from ftkit.models import load_model
    from ftkit.train import add_adapter, count_params
    cfg = load_config(QUICK, **changes)
    return count_params(add_adapter(load_model(cfg), cfg))[0]

def run(name, threads, out_root):
    "Train and evaluate run `name` with `threads` CPU threads; its figures as a dict."
    from ftkit.cli import as_options
    what, changes = RUNS[name]
    options = as_options(changes)
    here = Path(out_root)/name  # each run in a folder of its own, writing ./outputs/honeycomb-tiny as a user's
    here.mkdir()
    out = here/'outputs'/'honeycomb-tiny'
    env = {**os.environ, 'OMP_NUM_THREADS': str(threads), 'MPLBACKEND': 'Agg'}
    cmd = [sys.executable, '-m', 'ftkit.cli', 'train', QUICK, *options]
    start = time.time()
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=here)
    secs = time.time() - start
    if r.returncode: raise SystemExit(f'{name} failed:\n{r.stderr[-2000:]}')
    report = json.loads((out/'eval_report.json').read_text())
    loss = float(re.search(r'final loss ([0-9.]+)', r.stdout)[1])
    before = re.search(r'before fine-tuning: Level-1 pass rate ([0-9.]+)%', r.stdout)
    summary = [line for line in r.stdout.splitlines() if line.strip() and not line.startswith('step ')]
    return dict(run=name, what=what, changes=changes, threads=threads, seconds=round(secs), summary=summary,
                final_loss=loss, base_pass_rate=float(before[1]) / 100 if before else None,
                pass_rate=report['pass_rate'], columns_exist=report['per_check'].get('columns_exist'))

def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--runs', nargs='*', default=list(RUNS))
    p.add_argument('--parallel', type=int, default=2, help='runs at a time (each gets 2 // parallel threads)')
    p.add_argument('--out', default=str(ROOT/'bench'/'finetune-cpu.json'))
    args = p.parse_args()
    threads = max(1, 2 // args.parallel)
    with tempfile.TemporaryDirectory() as tmp, ThreadPoolExecutor(args.parallel) as pool:
        results = list(pool.map(lambda n: run(n, threads, tmp), args.runs))
    for r in results: r['trainable_params'] = trainable_params(r['changes'])  # one model load at a time
    old = json.loads(Path(args.out).read_text()) if Path(args.out).exists() else []
    kept = [r for r in old if r['run'] not in args.runs]
    Path(args.out).write_text(json.dumps(kept + results, indent=1) + '\n')
    for r in results:
        print(f"{r['run']:12} {r['pass_rate']:6.1%} (base {r['base_pass_rate']:.1%})  columns_exist "
              f"{r['columns_exist']:.1%}  loss {r['final_loss']:.3f}  {r['seconds']}s")

if __name__ == '__main__':
    main()
