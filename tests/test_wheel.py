"""The built wheel carries the offline default: configs that say `ftkit:` work from the installed package, anywhere."""
import os, subprocess, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

def test_wheel_ships_bundled_data(tmp_path):
    r = subprocess.run([sys.executable, '-m', 'pip', 'wheel', '-q', '--no-deps', '--no-build-isolation', '-w', str(tmp_path/'dist'), str(ROOT)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    wheel = next((tmp_path/'dist').glob('ftkit-*.whl'))
    site = tmp_path/'site'
    r = subprocess.run([sys.executable, '-m', 'pip', 'install', '-q', '--no-deps', '--target', str(site), str(wheel)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    code = ("import ftkit, json; from ftkit.files import resolve_path; from pathlib import Path; "
            "assert str(Path(ftkit.__file__).parent).startswith(%r), ftkit.__file__; "
            "n = sum(1 for _ in open(resolve_path('ftkit:honeycomb/train.jsonl'))); "
            "cfg = json.load(open(Path(resolve_path('ftkit:tiny-llama'))/'config.json')); print(n, cfg['model_type']); "
            "base = Path(resolve_path('ftkit:tiny-base')); "
            "print(*sorted(p.name for p in base.iterdir() if p.suffix in ('.safetensors', '.md', '.yaml'))); "
            "print(*sorted(p.name for p in Path(resolve_path('ftkit:accelerate')).iterdir()))") % str(site)
    r = subprocess.run([sys.executable, '-c', code], cwd=tmp_path, capture_output=True, text=True,
                       env={**os.environ, 'PYTHONPATH': str(site)})
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.splitlines() == ['4000 llama', 'README.md model.safetensors', 'ddp.yaml fsdp.yaml']
