"""`merge` never deletes what ftkit did not write (issue #10): the old behaviour reproduced with the old code
first."""
import os
from pathlib import Path
import pytest
from _before import ROOT, old_module
from ftkit.config import load_config
from ftkit.files import Refused
from ftkit.infer import MERGED, merge_adapter, merge_target
from ftkit.models import load_model, load_tokenizer
from ftkit.train import add_adapter

QUICK = str(ROOT/'examples'/'honeycomb-tiny.yml')

@pytest.fixture
def run(tmp_path):
    "A LoRA run folder: the adapter, the tokenizer and a checkpoint (an untrained adapter is a real one)."
    cfg = load_config(QUICK, adapter='lora', lora_target_linear=True, output_dir=str(tmp_path/'run'))
    add_adapter(load_model(cfg), cfg).save_pretrained(cfg.output_dir)
    load_tokenizer(cfg).save_pretrained(cfg.output_dir)
    (Path(cfg.output_dir)/'checkpoint-10').mkdir()
    (Path(cfg.output_dir)/'checkpoint-10'/'optimizer.pt').write_bytes(b'hours of work')
    return cfg

def users_folder(path):
    path.mkdir(exist_ok=True)
    (path/'notes.txt').write_text('my notes')
    return path

def run_intact(cfg):
    d = Path(cfg.output_dir)
    if not (d/'adapter_config.json').is_file(): return False
    return (d/'checkpoint-10'/'optimizer.pt').read_bytes() == b'hours of work'

def test_out_dot(run, tmp_path, monkeypatch):
    "`--out .` emptied the current folder (then failed); now it is refused and nothing is touched."
    monkeypatch.chdir(users_folder(tmp_path/'before'))
    with pytest.raises(OSError): old_module('infer').merge_adapter(run, None, '.')
    assert not (tmp_path/'before'/'notes.txt').exists()
    monkeypatch.chdir(users_folder(tmp_path/'after'))
    with pytest.raises(Refused, match='merge: --out . is not empty and holds no merged model written by'):
        merge_adapter(run, out_dir='.')
    assert (tmp_path/'after'/'notes.txt').read_text() == 'my notes' and run_intact(run)

def test_out_the_run_folder(run, tmp_path):
    "`--out <the run folder>` replaced the adapter and checkpoints; now refused, even with overwrite."
    before = load_config(QUICK, adapter='lora', lora_target_linear=True, output_dir=str(tmp_path/'old-run'))
    add_adapter(load_model(before), before).save_pretrained(before.output_dir)
    (Path(before.output_dir)/'checkpoint-10').mkdir()
    old_module('infer').merge_adapter(before, None, before.output_dir)
    assert not (Path(before.output_dir)/'adapter_config.json').exists()
    assert not (Path(before.output_dir)/'checkpoint-10').exists()
    for overwrite in (False, True):
        with pytest.raises(Refused, match=r'is the run folder .*; write the merged model to a new folder'):
            merge_adapter(run, out_dir=run.output_dir, overwrite=overwrite)
    with pytest.raises(Refused, match='holds the run folder'): merge_adapter(run, out_dir=tmp_path)
    assert run_intact(run)

def test_default_folder(run):
    "The default `output_dir/merged` is written when new; a second merge is refused naming the fix."
    out = merge_adapter(run)
    assert out == Path(run.output_dir)/'merged'
    assert (out/MERGED).is_file() and (out/'model.safetensors').is_file()
    with pytest.raises(Refused, match='merge: the default .*merged already exists; choose a new folder with'):
        merge_adapter(run)
    merge_adapter(run, overwrite=True)  # the old one is moved aside, not deleted
    assert (Path(run.output_dir)/'merged.old-1'/MERGED).is_file()
    assert (out/MERGED).is_file() and run_intact(run)

def test_other_folders(run, tmp_path):
    "A new or empty folder is written; ftkit's own merged model named with --out is replaced; others refused."
    new = merge_adapter(run, out_dir=tmp_path/'new')
    (new/'config.json').write_text('{}')  # spoil the old one: the replacement must be a fresh model
    assert merge_adapter(run, out_dir=new) == new and (new/'config.json').read_text() != '{}'
    news = sorted(p.name for p in tmp_path.iterdir() if p.name.startswith('new'))
    assert news == ['new']  # replaced in place
    (tmp_path/'empty').mkdir()
    assert merge_adapter(run, out_dir=tmp_path/'empty') == tmp_path/'empty'
    mine = users_folder(tmp_path/'mine')
    with pytest.raises(Refused, match='holds no merged model written by ftkit; choose a new folder'):
        merge_adapter(run, out_dir=mine)
    merge_adapter(run, out_dir=mine, overwrite=True)
    assert (tmp_path/'mine.old-1'/'notes.txt').read_text() == 'my notes' and (mine/MERGED).is_file()
    (tmp_path/'file').write_text('x')
    with pytest.raises(Refused, match='is a file'): merge_target(run, out_dir=tmp_path/'file')
    assert not any(p.name.startswith('.') and '.tmp-' in p.name for p in tmp_path.iterdir())  # no leftovers
