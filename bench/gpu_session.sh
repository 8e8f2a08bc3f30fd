#!/usr/bin/env bash
# Every GPU figure in bench/README.md, in one run (about 9 minutes on an H100/H200), from the repository root:
#     bash bench/gpu_session.sh [RESULTS_DIR]        # default bench/results
# Needs a CUDA GPU with torch, transformers, peft and accelerate; bitsandbytes and datasets too (wheels in .whl/, if
# present, are installed to /tmp/site first: that is how they travel to a machine without a package index).
# Each part has a time limit and writes its JSON as it goes, so a part cut short still leaves what it measured.
OUT=${1:-${OUT:-bench/results}}; mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TRANSFORMERS_VERBOSITY=error TOKENIZERS_PARALLELISM=false
if [ -d .whl ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site
fi
[ -e ftkit/assets ] || ln -s ../data ftkit/assets   # what the wheel's package-dir mapping does, for a plain checkout
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
{ date -u; nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
  python3 -c "import torch, transformers, peft, accelerate, bitsandbytes, datasets as d; print('torch', torch.__version__, 'transformers', transformers.__version__, 'peft', peft.__version__, 'accelerate', accelerate.__version__, 'bitsandbytes', bitsandbytes.__version__, 'datasets', d.__version__)"
} 2>&1 | tee "$OUT/env.txt"
part() { local secs=$1; shift; echo "== $* (limit ${secs}s)"; local t=$SECONDS; timeout "$secs" "$@" 2>&1 | grep -v 'Loading weights\|Writing model'; echo "== done in $((SECONDS - t))s"; }
# 0. the real path end to end: `ftkit train` with packed rows (varlen attention) and bf16 on the tiny model
part 50 python3 -m ftkit.cli train examples/honeycomb-tiny.yml --sample_packing true --bf16 true --max_steps 200 --logging_steps 50 --save_steps 100 --output_dir /tmp/ftkit-packed --no-eval
# 1. packing vs padding on a 1B shape: sdpa (block mask) and varlen (torch's flash varlen kernel); correctness first
part 110 python3 bench/bench_data.py --skip-preprocess --skip-cpu-train --gpu --steps 6 --rounds 2 --json "$OUT/gpu_data.json"
# 2. LoRA / QLoRA through ftkit vs a plain Trainer + peft, 1B; QLoRA on an 8B shape
part 120 python3 bench/gpu_train.py --shapes tinyllama-1.1b --baseline --json "$OUT/gpu_train_1b.json"
part 130 python3 bench/gpu_train.py --shapes llama3-8b --methods qlora --json "$OUT/gpu_train_8b.json"
# 3. the memory estimator on configurations it was not calibrated on
part 150 python3 bench/gpu_memory.py --out "$OUT/gpu_memory.json"
