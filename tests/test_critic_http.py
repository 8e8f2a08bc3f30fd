"""The critic's OpenAI-compatible backend against a real HTTP server on 127.0.0.1: retries, malformed replies, cache, key hygiene."""
import json, logging, threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
import pytest
from ftkit.critic import Critic, OpenAIJudge, heal

KEY = 'sk-test-SECRET-0123456789'

class Server:
    "A chat-completions server that answers from a script: a list of (status, body) popped per request."
    def __init__(self):
        self.script, self.requests = [], []
        outer = self
        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers['Content-Length'])))
                outer.requests.append(dict(path=self.path, auth=self.headers.get('Authorization'), body=body))
                status, payload = outer.script.pop(0) if outer.script else (500, {'error': {'message': 'script empty'}})
                data = (payload if isinstance(payload, str) else json.dumps(payload)).encode()
                self.send_response(status)
                self.send_header('Content-Type', 'application/json'); self.send_header('Content-Length', str(len(data)))
                self.send_header('retry-after-ms', '10')  # keep the client's backoff short in tests
                self.end_headers(); self.wfile.write(data)
            def log_message(self, *a): pass
        self.httpd = ThreadingHTTPServer(('127.0.0.1', 0), Handler)
        self.url = f'http://127.0.0.1:{self.httpd.server_address[1]}/v1'
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

def reply(content):
    return 200, {'id': 'x', 'object': 'chat.completion', 'created': 0, 'model': 'judge',
                 'choices': [{'index': 0, 'finish_reason': 'stop', 'message': {'role': 'assistant', 'content': content}}]}

@pytest.fixture
def server():
    s = Server(); yield s; s.httpd.shutdown(); s.httpd.server_close()

@pytest.fixture
def judge(server, monkeypatch):
    monkeypatch.setenv('FTKIT_TEST_KEY', KEY)
    return OpenAIJudge('judge', base_url=server.url, key_env='FTKIT_TEST_KEY', max_retries=3)

CASE = ('slowest routes', ['http.route', 'duration_ms'], '{"calculations": [{"op": "AVG", "column": "duration_ms"}], "breakdowns": ["http.route"]}')

def test_retries_429_and_500_then_caches(server, judge, tmp_path, caplog):
    server.script = [(429, {'error': {'message': 'slow down'}}), (500, {'error': {'message': 'boom'}}),
                     reply('```json\n{"critique": "AVG is not slowest.", "outcome": "bad"}\n```')]
    critic = Critic(judge, cache_dir=tmp_path/'cache')
    with caplog.at_level(logging.DEBUG):
        v = critic(*CASE)
    assert v == {'critique': 'AVG is not slowest.', 'outcome': 'bad'}
    assert len(server.requests) == 3 and server.requests[0]['path'] == '/v1/chat/completions'
    assert server.requests[-1]['auth'] == f'Bearer {KEY}'
    msgs = server.requests[-1]['body']['messages']
    assert msgs[0]['role'] == 'system' and 'NLQ: slowest routes' in msgs[1]['content']
    # a rerun costs nothing, even from a new Critic: the cache answers
    again = Critic(judge, cache_dir=tmp_path/'cache')
    assert again(*CASE) == v and again.calls == 0 and len(server.requests) == 3
    # the key is never written to the cache or logged
    files = list((tmp_path/'cache').glob('*.json'))
    assert len(files) == 1 and all(KEY not in f.read_text() for f in files)
    assert KEY not in caplog.text and KEY not in repr(judge)

def test_malformed_reply_is_an_error_verdict_and_not_cached(server, judge, tmp_path):
    server.script = [reply('I think it is fine.'), (200, 'not json at all'),
                     reply('{"critique": "ok", "outcome": "good"}')]
    critic = Critic(judge, cache_dir=tmp_path)
    v = critic(*CASE)
    assert v['outcome'] == 'error' and 'I think it is fine' in v['critique']
    assert list(tmp_path.glob('*.json')) == []
    v = critic(*CASE)  # a body that is not JSON at all
    assert v['outcome'] == 'error' and 'malformed reply' in v['critique']
    assert critic(*CASE)['outcome'] == 'good'  # the next call goes to the server again
    assert len(server.requests) == 3

def test_gives_up_after_max_retries(server, judge, tmp_path):
    import openai
    server.script = [(500, {'error': {'message': 'down'}})] * 10
    with pytest.raises(openai.InternalServerError):
        Critic(judge, cache_dir=tmp_path)(*CASE)
    assert len(server.requests) == 4  # 1 try + 3 retries

def test_heal_through_http(server, judge, tmp_path):
    server.script = [reply('Here you go: {"calculations": [{"op": "MAX", "column": "duration_ms"}], "breakdowns": ["http.route"], '
                           '"orders": [{"op": "MAX", "column": "duration_ms", "order": "descending"}]}')]
    out = heal(Critic(judge, cache_dir=tmp_path), *CASE, 'Slowest means MAX, ordered descending.')
    assert out['ok'] and json.loads(out['query'])['orders'][0]['op'] == 'MAX'
    assert 'Slowest means MAX' in server.requests[0]['body']['messages'][1]['content']
