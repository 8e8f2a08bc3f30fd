"""`load_trained`, `ftkit inference` and `merge_adapter` on checkpoints of sharded runs (issue #14): a real
FSDP checkpoint from 2 CPU processes (tests/fsdp_cpu.py), a LoRA run's weights in FSDP's format with a grown
vocabulary, and a DeepSpeed ZeRO-2 LoRA checkpoint without its whole adapter. Each loads with the logits of
the whole model."""
import os, shutil, subprocess, sys
from pathlib import Path
import pytest, torch
import torch.distributed.checkpoint as dcp
from transformers import AutoModelForCausalLM
from ftkit.config import load_config
from ftkit.infer import gathered_dir, load_trained, merge_adapter
from ftkit.models import fit_embeddings, load_model, load_tokenizer
from ftkit.train import add_adapter

ROOT = Path(__file__).resolve().parents[1]
QUICK = str(ROOT/'examples'/'honeycomb-tiny.yml')
ENV = {**os.environ, 'MPLBACKEND': 'Agg', 'OMP_NUM_THREADS': '1', 'HF_HUB_OFFLINE': '1'}
IDS = torch.randint(0, 1000, (2, 24), generator=torch.Generator().manual_seed(1))

def logits(model):
    with torch.no_grad(): return model(IDS).logits

@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv('FTKIT_CACHE', str(tmp_path/'cache'))
    return tmp_path/'cache'

def test_fsdp_checkpoint_of_two_processes(tmp_path, capsys):
    "The FSDP2 checkpoint of 2 CPU processes loads with the logits of its full state dict; gathered once."
    out = tmp_path/'checkpoint-1'
    cmd = [sys.executable, '-m', 'torch.distributed.run', '--standalone', '--nproc-per-node=2',
           str(ROOT/'tests'/'fsdp_cpu.py'), str(out)]
    r = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, env=ENV, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    full = torch.load(out/'full.pt')
    cfg = load_config(QUICK, adapter=None, output_dir=str(tmp_path/'run'))  # fsdp_cpu.py trains the whole model
    whole = load_model(cfg)
    whole.load_state_dict(full)
    model, _ = load_trained(cfg, out)
    assert torch.equal(logits(model), logits(whole))
    assert 'gathering the fsdp shards' in capsys.readouterr().err
    stamp = gathered_dir(out).stat().st_mtime_ns
    load_trained(cfg, out)
    assert 'gathering' not in capsys.readouterr().err and gathered_dir(out).stat().st_mtime_ns == stamp
    with pytest.raises(FileNotFoundError, match='no adapter in'): merge_adapter(cfg, out)
    ask = ['inference', QUICK, '--adapter', 'null', '--lora-model-dir', str(out), '--prompt', 'slowest routes',
           '--max_new_tokens', '4']
    r = subprocess.run([sys.executable, '-m', 'ftkit.cli', *ask], cwd=tmp_path, capture_output=True,
                       text=True, env={**ENV, 'FTKIT_CACHE': os.environ['FTKIT_CACHE']}, timeout=600)
    assert r.returncode == 0 and r.stdout.strip(), r.stderr[-3000:]
    assert 'gathering' not in r.stderr  # the command found the folder the test gathered

def test_lora_run_in_fsdp_format(tmp_path):
    "A LoRA run that added a token, saved as accelerate saves FSDP's sharded state: loads and merges."
    cfg = load_config(QUICK, adapter='lora', lora_target_linear=True, tokens=['<|query|>'],
                      output_dir=str(tmp_path/'run'))
    tok = load_tokenizer(cfg)
    base = load_model(cfg)
    trained = add_adapter(base, cfg, train_embeddings=fit_embeddings(base, tok, cfg))
    torch.manual_seed(0)
    with torch.no_grad():
        for p in trained.parameters():
            if p.requires_grad: p.add_(torch.randn_like(p) * 0.02)  # an adapter that changes the logits
    folder = tmp_path/'run'/'checkpoint-3'
    dcp.save({'model': trained.state_dict()}, checkpoint_id=str(folder/'pytorch_model_fsdp_0'))
    model, run_tok = load_trained(cfg, folder)
    assert len(run_tok) == len(tok) and (gathered_dir(folder)/'adapter_config.json').is_file()
    expected = logits(trained.eval())
    torch.testing.assert_close(logits(model), expected)
    merged = merge_adapter(cfg, folder, tmp_path/'merged')
    merged_logits = logits(AutoModelForCausalLM.from_pretrained(merged))
    torch.testing.assert_close(merged_logits, expected, atol=1e-4, rtol=0)
    other = load_config(QUICK, adapter='lora', lora_target_linear=True, peft_use_dora=True,
                        tokens=['<|query|>'], output_dir=str(tmp_path/'other'))
    with pytest.raises(ValueError, match='its weights lack .*lora_magnitude_vector'):  # DoRA: not trained
        load_trained(other, shutil.copytree(folder, tmp_path/'other'/'checkpoint-3'))

@pytest.mark.skipif(not __import__('importlib').util.find_spec('deepspeed'), reason='pip install deepspeed')
def test_deepspeed_checkpoint_without_whole_weights(tmp_path):
    "A 2-process ZeRO-2 LoRA checkpoint without its adapter file: gathered from global_step*, same logits."
    run = tmp_path/'run'
    args = ['train', QUICK, '--adapter', 'lora', '--lora_target_linear', 'true', '--num-processes', '2',
            '--deepspeed', 'ftkit:deepspeed/zero2.json', '--max_steps', '2', '--save_steps', '2',
            '--micro_batch_size', '2', '--val_set_size', '0', '--logging_steps', '1', '--warmup_steps', '0',
            '--learning_rate', '1e-2', '--no-eval', '--output_dir', str(run)]
    r = subprocess.run([sys.executable, '-m', 'ftkit.cli', *args], cwd=tmp_path, capture_output=True,
                       text=True, env=ENV, timeout=1500)
    assert r.returncode == 0, r.stderr[-3000:]
    sharded = tmp_path/'sharded'
    shutil.copytree(run/'checkpoint-2', sharded, ignore=shutil.ignore_patterns('adapter_model.safetensors'))
    cfg = load_config(QUICK, adapter='lora', lora_target_linear=True, output_dir=str(run))
    whole, _ = load_trained(cfg, run/'checkpoint-2')
    gathered, _ = load_trained(cfg, sharded)
    assert (gathered_dir(sharded)/'adapter_model.safetensors').is_file()
    torch.testing.assert_close(logits(gathered), logits(whole))
    assert (merge_adapter(cfg, sharded, tmp_path/'merged')/'model.safetensors').is_file()
