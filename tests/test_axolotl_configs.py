"""axolotl's own example configs (tests/axolotl_configs, Apache-2.0, see its README) through `ftkit validate`, and
the course's Honeycomb QLoRA recipe (examples/honeycomb-course-qlora.yml) trained for a few steps on a CPU."""
import os, subprocess, sys
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = sorted((ROOT/'tests'/'axolotl_configs').glob('*.y*ml'))
REFUSED = {'llama-3__3b-qat-fsdp2.yaml': 'qat: ftkit does not do quantization-aware training',
           'gpt-oss__gpt-oss-20b-fft-fsdp2.yaml': 'model_quantization_config: ftkit does not do'}
ENV = {**os.environ, 'MPLBACKEND': 'Agg', 'HF_HUB_OFFLINE': '1'}

def ftkit(*args, cwd):
    return subprocess.run([sys.executable, '-m', 'ftkit.cli', *args], cwd=cwd, env=ENV, capture_output=True, text=True,
                          timeout=900)

def test_a_dozen_validate():
    assert len([p for p in CONFIGS if p.name not in REFUSED]) >= 12

@pytest.mark.parametrize('path', CONFIGS, ids=[p.stem for p in CONFIGS])
def test_validate(path, tmp_path):
    r = ftkit('validate', str(path), cwd=tmp_path)
    if path.name in REFUSED:
        assert r.returncode == 2 and REFUSED[path.name] in r.stdout, r.stdout
        return
    assert r.returncode == 0, r.stdout + r.stderr[-2000:]
    assert 'would train' in r.stdout and 'error:' not in r.stdout
    assert 'Traceback' not in r.stderr and not r.stderr.strip(), r.stderr   # nothing but the report

def test_course_recipe_trains_on_cpu(tmp_path):
    "The course's settings as they are (QLoRA, seq 896, adamw_bnb_8bit, adam_beta2 0.95, bf16, flash_attention, ...),"
    "with the tiny base, two short steps and a few validation rows: what a CPU can do in a test."
    r = ftkit('train', str(ROOT/'examples'/'honeycomb-course-qlora.yml'), '--base_model', 'ftkit:tiny-llama',
              '--max_steps', '2', '--micro_batch_size', '2', '--eval_batch_size', '2', '--gradient_accumulation_steps', '1',
              '--val_set_size', '4', '--no-eval', cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    out = tmp_path/'qlora-alpaca-out'
    assert (out/'adapter_model.safetensors').exists() and 'trained 2 steps' in r.stdout
    assert 'note: no effect in ftkit: model_type' in r.stderr
