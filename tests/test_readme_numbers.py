"""The README's quickstart output is what `ftkit train` prints, with the figures of the recorded run
(bench/finetune-cpu.json, `lora-seed42`, written by `python bench/finetune_cpu.py`)."""
import json, re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

def quickstart_output() -> str:
    "The first code block without a language (the printed output) after the README's Quickstart heading."
    text = (ROOT/'README.md').read_text()
    section = text[text.index('## Quickstart'):]
    blocks = re.findall(r'^```(\w*)\n(.*?)^```$', section, re.S | re.M)
    return next(body for lang, body in blocks if not lang)

def test_lines_have_the_format_ftkit_prints():
    out = quickstart_output()
    assert re.search(r'^base model before fine-tuning: Level-1 pass rate \d+\.\d% \(\d+/200\)$', out, re.M)
    assert re.search(r'^trained 1000 steps in \d+s; final loss \d\.\d{3}; saved to \./outputs/honeycomb-tiny$',
                     out, re.M)
    assert re.search(r'^Level-1 pass rate: \d+\.\d% \(\d+/200\)$', out, re.M)
    assert re.search(r'^  columns_exist +\d+\.\d%', out, re.M)
    assert re.search(r'^held-out Level-1 pass rate: \d+\.\d% before fine-tuning, \d+\.\d% after$', out, re.M)

def test_figures_are_the_recorded_run():
    run = {r['run']: r for r in json.loads((ROOT/'bench'/'finetune-cpu.json').read_text())}['lora-seed42']
    out = quickstart_output()
    after = re.search(r'^Level-1 pass rate: (\d+\.\d)%', out, re.M)[1]
    before = re.search(r'^base model before fine-tuning: Level-1 pass rate (\d+\.\d)%', out, re.M)[1]
    loss = re.search(r'final loss (\d\.\d{3})', out)[1]
    assert (float(after), float(before)) == (round(run['pass_rate'] * 100, 1), round(run['base_pass_rate'] * 100, 1))
    assert float(loss) == round(run['final_loss'], 3)
    assert run['pass_rate'] >= 0.5  # the quickstart's target: most held-out questions answered validly
