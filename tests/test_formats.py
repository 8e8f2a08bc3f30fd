"""Every dataset format round-trips: preprocess -> mask debug view -> a few training steps on the tiny model."""
import io, json, math
from contextlib import redirect_stdout
import pytest
from ftkit.config import load_config
from ftkit.data import IGNORE, prepare_dataset
from ftkit.masks import print_examples
from ftkit.models import load_tokenizer

ZEPHYR = ("{% for m in messages %}{{ '<|' + m['role'] + '|>\\n' + m['content'] }}{% if m['role'] == 'assistant' %}{{ eos_token }}"
          "{% endif %}{{ '\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|assistant|>\\n' }}{% endif %}")
CHAT = [{'from': 'system', 'value': 'Be brief.'}, {'from': 'human', 'value': 'Count to three.'}, {'from': 'gpt', 'value': 'one two three'},
        {'from': 'human', 'value': 'And back?'}, {'from': 'gpt', 'value': 'three two one'}]
FORMATS = {  # name -> (dataset entry minus path, one row, the trained text)
    'sharegpt-alpaca': ({'type': 'sharegpt', 'conversation': 'alpaca'}, {'conversations': CHAT}, ['one two three', 'three two one']),
    'sharegpt-chatml': ({'type': 'sharegpt', 'conversation': 'chatml'}, {'conversations': CHAT}, ['one two three<|im_end|>', 'three two one<|im_end|>']),
    'alpaca': ({'type': 'alpaca'}, {'instruction': 'Count to three.', 'input': 'in English', 'output': 'one two three'}, ['one two three']),
    'completion': ({'type': 'completion'}, {'text': 'one two three four five'}, ['one two three four five']),
    'chat_template': ({'type': 'chat_template', 'chat_template': ZEPHYR},
                      {'messages': [{'role': 'user', 'content': 'Count to three.'}, {'role': 'assistant', 'content': 'one two three'}]}, ['one two three</s>']),
}

CASES = [(n, False) for n in FORMATS] + [('sharegpt-alpaca', True), ('chat_template', True)]

@pytest.mark.parametrize('name, packing', CASES, ids=[n + ('-packed' if p else '') for n, p in CASES])
def test_format_round_trip(name, packing, tmp_path):
    entry, row, answers = FORMATS[name]
    rows = [row] * 24
    (tmp_path/'d.jsonl').write_text(''.join(json.dumps(r) + '\n' for r in rows))
    cfg = load_config({'datasets': [{'path': str(tmp_path/'d.jsonl'), **entry}], 'sequence_len': 256, 'sample_packing': packing,
                       'micro_batch_size': 4, 'max_steps': 2, 'logging_steps': 1, 'learning_rate': 1e-3, 'output_dir': str(tmp_path/'run')})
    tok = load_tokenizer(cfg)
    ds, report = prepare_dataset(cfg, tok, pack=False, verbose=False)
    assert report['kept'] == 24
    ex = ds[0]
    ids = lambda t: tok(t, add_special_tokens=False)['input_ids']
    trained = [l for l in ex['labels'] if l != IGNORE]
    if name == 'chat_template':  # tokenized in context, as a server sends it: compare the text the labels spell
        assert tok.decode(trained) == ''.join(answers)
    else:
        want = [i for a in answers for i in ids(a) + ([] if a.endswith('</s>') else [tok.eos_token_id])]
        assert trained == want  # token by token: exactly the answers and their EOS
    out = io.StringIO()
    with redirect_stdout(out): print_examples(ds, tok, n=1, color=False)
    assert f'</s>({tok.eos_token_id}, {tok.eos_token_id})' in out.getvalue() and '(-100, ' in out.getvalue()
    from ftkit.train import train
    trainer = train(cfg)
    losses = [h['loss'] for h in trainer.state.log_history if 'loss' in h]
    assert trainer.state.global_step == 2 and all(math.isfinite(l) for l in losses)
