"""The critic's OpenAI-compatible backend against a real HTTP server on 127.0.0.1: retries, malformed replies,
a judge that is down, and key hygiene: no key in a cache file, a log line, stdout/stderr or an exception."""
import base64, json, logging, socket, threading, traceback
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit
import pytest
from ftkit.critic import Critic, JudgeError, OpenAIJudge, heal

KEY = 'sk-test-SECRET-0123456789'      # in the environment variable
URL_KEY = 'sk-url-SECRET-9876543210'   # inside a base URL

class Server:
    "A chat-completions server that answers from a script: (status, body) pairs, or functions of the request."
    def __init__(self):
        self.script, self.requests = [], []
        outer = self
        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers['Content-Length'])))
                req = dict(path=self.path, auth=self.headers.get('Authorization'), body=body)
                outer.requests.append(req)
                step = outer.script.pop(0) if outer.script else (500, {'error': {'message': 'script empty'}})
                status, payload = step(req) if callable(step) else step
                data = (payload if isinstance(payload, str) else json.dumps(payload)).encode()
                self.send_response(status)
                self.send_header('Content-Type', 'application/json')
                self.send_header('Content-Length', str(len(data)))
                self.send_header('retry-after-ms', '10')  # keep the client's backoff short in tests
                self.end_headers()
                self.wfile.write(data)
            def log_message(self, *a): pass
        self.httpd = ThreadingHTTPServer(('127.0.0.1', 0), Handler)
        self.port = self.httpd.server_address[1]
        self.url = f'http://127.0.0.1:{self.port}/v1'
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

def reply(content):
    return 200, {'id': 'x', 'object': 'chat.completion', 'created': 0, 'model': 'judge',
                 'choices': [{'index': 0, 'finish_reason': 'stop',
                              'message': {'role': 'assistant', 'content': content}}]}

def echo_auth(req):
    "What a careless gateway does: quote the credentials it was sent in its error."
    return 401, {'error': {'message': f"bad credentials: {req['auth']}", 'type': 'invalid_request_error'}}

def closed_port() -> int:
    "A port on 127.0.0.1 that nothing listens on."
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]

def leaks(text, keys=(KEY, URL_KEY)) -> list:
    "The keys (or their Basic-auth encodings) that appear in `text`."
    basic = base64.b64encode(f'user:{URL_KEY}'.encode()).decode()
    return [k for k in (*keys, basic) if k in text]

def cache_text(folder) -> str:
    "Every cache file's name and content, as one text."
    return ''.join(f'{f.name}\n{f.read_text()}\n' for f in folder.rglob('*') if f.is_file())

@pytest.fixture
def server():
    s = Server()
    yield s
    s.httpd.shutdown()
    s.httpd.server_close()

@pytest.fixture
def judge(server, monkeypatch):
    monkeypatch.setenv('FTKIT_TEST_KEY', KEY)
    return OpenAIJudge('judge', base_url=server.url, key_env='FTKIT_TEST_KEY', max_retries=3)

CASE = ('slowest routes', ['http.route', 'duration_ms'],
        '{"calculations": [{"op": "AVG", "column": "duration_ms"}], "breakdowns": ["http.route"]}')

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
    assert (v['outcome'], v['error']) == ('error', 'no verdict') and 'I think it is fine' in v['critique']
    assert list(tmp_path.glob('*.json')) == []
    v = critic(*CASE)  # a body that is not JSON at all
    assert (v['outcome'], v['error']) == ('error', 'malformed reply')
    assert critic(*CASE)['outcome'] == 'good'  # the next call goes to the server again
    assert len(server.requests) == 3
    assert critic.errors == Counter({'no verdict': 1, 'malformed reply': 1})
    assert critic.report() == '3 verdicts: 1 good, 0 bad, 2 errors (1 no verdict, 1 malformed reply)'

def test_server_error_after_retries_is_a_counted_verdict(server, judge, tmp_path):
    # before: the client's InternalServerError escaped the critic (a traceback in `ftkit curate`)
    server.script = [(500, {'error': {'message': 'down'}})] * 10
    critic = Critic(judge, cache_dir=tmp_path)
    v = critic(*CASE)
    assert (v['outcome'], v['error']) == ('error', 'server error') and 'down' in v['critique']
    assert len(server.requests) == 4  # 1 try + 3 retries
    assert critic.report() == '1 verdicts: 0 good, 0 bad, 1 errors (1 server error)'
    assert list(tmp_path.iterdir()) == []

def test_unreachable_judge_is_a_counted_verdict(monkeypatch, tmp_path):
    # before: openai.APIConnectionError escaped the critic
    monkeypatch.setenv('FTKIT_TEST_KEY', KEY)
    down = OpenAIJudge('judge', f'http://127.0.0.1:{closed_port()}/v1', 'FTKIT_TEST_KEY', max_retries=0)
    critic = Critic(down, cache_dir=tmp_path)
    v = critic(*CASE)
    assert (v['outcome'], v['error']) == ('error', 'unreachable')
    assert critic.report() == '1 verdicts: 0 good, 0 bad, 1 errors (1 unreachable)'

def test_echoed_authorization_header_is_blanked(server, judge, tmp_path, caplog, capsys):
    # before: openai.AuthenticationError('Error code: 401 - bad credentials: Bearer sk-...'), a raw traceback
    server.script = [echo_auth, echo_auth]
    with pytest.raises(JudgeError) as e:
        judge([dict(role='user', content='hi')])
    assert server.requests[0]['auth'] == f'Bearer {KEY}'  # the key was sent, and quoted back
    shown = ''.join(traceback.format_exception(e.value))
    assert e.value.kind == 'auth failed' and 'Bearer ***' in str(e.value) and leaks(shown) == []
    assert e.value.__context__ is None and e.value.__cause__ is None  # the original error is not chained
    critic = Critic(judge, cache_dir=tmp_path)
    with caplog.at_level(logging.DEBUG):
        v = critic(*CASE)
    assert (v['error'], 'Bearer ***' in v['critique']) == ('auth failed', True)
    out = capsys.readouterr()
    assert leaks(v['critique'] + caplog.text + out.out + out.err + cache_text(tmp_path)) == []

def test_key_echoed_in_a_reply_is_blanked(server, judge, tmp_path):
    server.script = [lambda req: reply(json.dumps(dict(critique=f"you sent {req['auth']}", outcome='good')))]
    critic = Critic(judge, cache_dir=tmp_path)
    v = critic(*CASE)
    assert v == dict(critique='you sent Bearer ***', outcome='good')
    assert leaks(cache_text(tmp_path)) == [] and len(list(tmp_path.glob('*.json'))) == 1

@pytest.mark.parametrize('where', ['userinfo', 'query'])
def test_key_in_base_url_is_used_but_never_shown(where, server, monkeypatch, tmp_path, caplog, capsys):
    # before: the URL, key and all, was the judge's name: written into every cache file, logged by httpx
    monkeypatch.setenv('FTKIT_TEST_KEY', KEY)
    urls = dict(userinfo=f'http://user:{URL_KEY}@127.0.0.1:{server.port}/v1',
                query=f'{server.url}?api-key={URL_KEY}')
    url = urls[where]
    judge = OpenAIJudge('judge', base_url=url, key_env='FTKIT_TEST_KEY', max_retries=0)
    server.script = [reply('{"critique": "fine", "outcome": "good"}'), echo_auth]
    critic = Critic(judge, cache_dir=tmp_path)
    with caplog.at_level(logging.DEBUG):
        assert critic(*CASE)['outcome'] == 'good'
        v = critic(CASE[0], CASE[1], '{"calculations": [{"op": "MAX", "column": "duration_ms"}]}')
    sent = server.requests[0]
    assert urlsplit(sent['path']).path == '/v1/chat/completions'  # the client used the real URL ...
    if where == 'userinfo': assert base64.b64decode(sent['auth'].split()[1]).decode() == f'user:{URL_KEY}'
    else: assert parse_qs(urlsplit(sent['path']).query) == {'api-key': [URL_KEY]}
    assert v['error'] == 'auth failed'
    out = capsys.readouterr()
    shown = [repr(judge), judge.name, v['critique'], caplog.text, out.out, out.err, cache_text(tmp_path)]
    assert leaks('\n'.join(shown)) == []  # ... and showed, logged and cached none of it
    assert '127.0.0.1' in judge.name and 'HTTP Request: POST' in caplog.text

def test_default_cache_is_in_ftkits_cache_folder(server, judge, tmp_path, monkeypatch):
    # before: `.ftkit-critic-cache` in the current folder, where `git add .` picks it up
    monkeypatch.setenv('FTKIT_CACHE', str(tmp_path/'cache'))
    monkeypatch.chdir(tmp_path)
    server.script = [reply('{"critique": "ok", "outcome": "good"}')] * 2
    critic = Critic(judge)
    assert critic(*CASE)['outcome'] == 'good'
    files = list((tmp_path/'cache'/'critic').glob('*.json'))
    assert len(files) == 1 and sorted(p.name for p in tmp_path.iterdir()) == ['cache']
    # a cache file cut short is a miss: asked again and written whole, not a JSONDecodeError
    files[0].write_text(files[0].read_text()[:30])
    assert Critic(judge)(*CASE)['outcome'] == 'good' and len(server.requests) == 2
    assert json.loads(files[0].read_text())['judge'] == judge.name

def test_heal_through_http(server, judge, tmp_path):
    server.script = [reply('Here you go: {"calculations": [{"op": "MAX", "column": "duration_ms"}], '
                           '"breakdowns": ["http.route"], '
                           '"orders": [{"op": "MAX", "column": "duration_ms", "order": "descending"}]}')]
    out = heal(Critic(judge, cache_dir=tmp_path), *CASE, 'Slowest means MAX, ordered descending.')
    assert out['ok'] and json.loads(out['query'])['orders'][0]['op'] == 'MAX'
    assert 'Slowest means MAX' in server.requests[0]['body']['messages'][1]['content']
