"""Refresh `data/axolotl/keys.json`: the config keys axolotl's pydantic schema accepts, read from its source.

    python tools/axolotl_keys.py AXOLOTL [OUT]

AXOLOTL is an axolotl checkout or a bare git dir (read at HEAD); OUT defaults to data/axolotl/keys.json.
Nothing is imported or installed: the schema modules are parsed with `ast`. A key's entry holds its type
annotation and default as source text (`default` is null for a required key) and the first ~150 characters
of its description. Keys added by plugins (`plugins:`) are listed apart, without descriptions: the
`src/axolotl/integrations` tree has its own licence."""

import ast, json, re, subprocess, sys
from pathlib import Path

SCHEMAS = 'src/axolotl/utils/schemas'
PLUGINS = 'src/axolotl/integrations'
ROOT_MODEL = 'AxolotlInputConfig'
DATASET_MODEL = 'SFTDataset'
DOC_LEN = 150

class Source:
    "Read files of a checkout, or of a bare git dir at HEAD."
    def __init__(self, path):
        self.path = Path(path)
        self.bare = not (self.path/'src').exists()

    def git(self, *args):
        return subprocess.run(['git', f'--git-dir={self.path}', *args], check=True,
                              capture_output=True, text=True).stdout

    def read(self, rel):
        return self.git('show', f'HEAD:{rel}') if self.bare else (self.path/rel).read_text()

    def files(self, rel):
        "Paths of the .py files under folder `rel`."
        if self.bare: names = self.git('ls-tree', '-r', '--name-only', 'HEAD', rel).split()
        else: names = [str(p.relative_to(self.path)) for p in (self.path/rel).rglob('*')]
        return sorted(n for n in names if n.endswith('.py'))

    def commit(self):
        if self.bare: return self.git('rev-parse', 'HEAD').strip()
        return subprocess.run(['git', '-C', str(self.path), 'rev-parse', 'HEAD'],
                              capture_output=True, text=True).stdout.strip() or None

def module_name(rel): return rel[len('src/'):-len('.py')].replace('/', '.').removesuffix('.__init__')

def parse_modules(src, folder):
    "{module name: ast.Module} for every .py file under `folder`."
    return {module_name(f): ast.parse(src.read(f)) for f in src.files(folder)}

def classes_of(tree): return {n.name: n for n in tree.body if isinstance(n, ast.ClassDef)}

def imports_of(tree):
    "{local name: (module, name)} for the `from X import Y` lines of a module."
    return {(a.asname or a.name): (n.module, a.name) for n in tree.body if isinstance(n, ast.ImportFrom)
            for a in n.names}

def resolve(name, module, mods):
    "(module, ClassDef) that `name` means inside `module`, or None (follows a few levels of re-export)."
    for _ in range(5):
        tree = mods.get(module)
        if tree is None: return None
        if name in classes_of(tree): return module, classes_of(tree)[name]
        module, name = imports_of(tree).get(name, (None, name))
    return None

def is_model(module, cls, mods):
    "True if `cls` derives from pydantic's BaseModel."
    for b in cls.bases:
        name = ast.unparse(b)
        if name == 'BaseModel': return True
        found = resolve(name, module, mods)
        if found and is_model(*found, mods): return True
    return False

def mro(module, cls, mods):
    "The classes of `cls`'s method resolution order that we can see, as (module, ClassDef) pairs (C3)."
    parents = [resolve(ast.unparse(b), module, mods) for b in cls.bases]
    seqs = [mro(*p, mods) for p in parents if p] + [[p for p in parents if p]]
    out = [(module, cls)]
    while any(seqs):
        for seq in seqs:
            head = seq[0] if seq else None
            if head and not any(head in s[1:] for s in seqs): break
        else: raise ValueError(f'no C3 order for {cls.name}')
        out.append(head)
        seqs = [[c for c in s if c != head] for s in seqs]
    return out

def short(text, n=DOC_LEN):
    text = ' '.join(str(text).split())
    return text if len(text) <= n else text[:n - 1].rstrip() + '…'

def _kw(call, name): return next((k.value for k in call.keywords if k.arg == name), None)

def _is_field(node): return isinstance(node, ast.Call) and ast.unparse(node.func).endswith('Field')

def _doc(call):
    "A Field's description: `description=` or json_schema_extra's 'description'."
    d = _kw(call, 'description')
    extra = _kw(call, 'json_schema_extra')
    if d is None and isinstance(extra, ast.Dict):
        pairs = zip(extra.keys, extra.values)
        d = next((v for k, v in pairs if getattr(k, 'value', None) == 'description'), None)
    return ast.literal_eval(d) if isinstance(d, ast.Constant) else None

def _aliases(call):
    "Names besides the field's own that a Field accepts (alias, validation_alias, AliasChoices)."
    out = []
    for k in ('alias', 'validation_alias'):
        v = _kw(call, k)
        if isinstance(v, ast.Constant): out.append(v.value)
        if isinstance(v, ast.Call): out += [a.value for a in v.args if isinstance(a, ast.Constant)]
    return out

def field_of(stmt, module):
    "(name, entry, aliases) for an annotated class attribute, or None."
    if not (isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name)): return None
    name, ann = stmt.target.id, stmt.annotation
    if name.startswith('_') or ast.unparse(ann).startswith('ClassVar'): return None
    entry = dict(type=' '.join(ast.unparse(ann).split()), default=None, doc='',
                 where=f'{module.rsplit(".", 1)[-1]}.py:{stmt.lineno}', _module=module)
    call, aliases = stmt.value if _is_field(stmt.value) else None, []
    if stmt.value is not None and call is None: entry['default'] = ast.unparse(stmt.value)
    if call is not None:
        default = _kw(call, 'default') or (call.args[0] if call.args else None)
        factory = _kw(call, 'default_factory')
        if default is not None and ast.unparse(default) != '...': entry['default'] = ast.unparse(default)
        if factory is not None: entry['default'] = f'{ast.unparse(factory)}()'
        entry['doc'] = short(_doc(call) or '')
        deprecated = _kw(call, 'deprecated')
        if deprecated is not None: entry['deprecated'] = short(ast.literal_eval(deprecated))
        aliases = [a for a in _aliases(call) if a != name]
    return name, entry, aliases

def fields(module, cls, mods, docs=True):
    "{key: entry} of a model, inherited fields included (the nearest class wins, as in Python)."
    out = {}
    for m, c in reversed(mro(module, cls, mods)):
        kind = 'deprecated' if c.name == 'DeprecatedParameters' else None
        for stmt in c.body:
            f = field_of(stmt, m)
            if f is None: continue
            name, entry, aliases = f
            entry['where'] = f'{entry["where"]} {c.name}'
            if kind: entry['deprecated'] = entry.get('deprecated') or 'listed in DeprecatedParameters'
            if not docs: entry.pop('doc')
            out[name] = entry
            for a in aliases: out[a] = {**entry, 'alias_of': name}
    return dict(sorted(out.items()))

def nested_models(entries, mods):
    "{class name: (module, ClassDef)} of the pydantic models named in the entries' types, recursively."
    found, todo = {}, list(entries.values())
    while todo:
        entry = todo.pop()
        for name in re.findall(r'[A-Z]\w+', entry['type']):
            hit = resolve(name, entry['_module'], mods)
            if hit and name not in found and is_model(*hit, mods):
                found[name] = hit
                todo += list(fields(*hit, mods).values())
    return found

def enum_values(cls):
    "The string values of an `Enum` class body."
    return [s.value.value for s in cls.body
            if isinstance(s, ast.Assign) and isinstance(getattr(s.value, 'value', None), str)]

def literal_values(type_text):
    "The strings of the first `Literal[...]` in a type annotation."
    m = re.search(r"Literal\[([^\]]*)\]", type_text)
    return ast.literal_eval(f'[{m.group(1)}]') if m else []

def args_models(plugin):
    "The dotted class paths a plugin class's `get_input_args` returns."
    fns = [f for f in plugin.body if isinstance(f, ast.FunctionDef) and f.name == 'get_input_args']
    return [r.value.value for f in fns for r in ast.walk(f)
            if isinstance(r, ast.Return) and isinstance(getattr(r.value, 'value', None), str)]

def plugin_keys(src):
    "{key: entry} for keys that plugins add, found from each plugin's `get_input_args`."
    mods = parse_modules(src, PLUGINS)
    out = {}
    for module, tree in mods.items():
        package = module.rsplit('.', 1)[0] if module.endswith(('.plugin', '.plugins')) else module
        for plugin in (c for c in tree.body if isinstance(c, ast.ClassDef)):
            for path in args_models(plugin):
                where, name = path.rsplit('.', 1)
                hit = resolve(name, where, mods) or resolve(name, f'{where}.args', mods)
                if hit is None: continue
                for k, e in fields(*hit, mods, docs=False).items():
                    out[k] = {**e, 'plugin': f'{package}.{plugin.name}'}
    return dict(sorted(out.items()))

def public(d):
    "`d` without the private `_module` entries, at any depth."
    if not isinstance(d, dict): return d
    return {k: public(v) for k, v in d.items() if not k.startswith('_')}

def compact_json(d):
    "JSON with one line per key (a mapping of plain values fits on one line): small, easy to diff."
    def dump(v, pad):
        if not isinstance(v, dict) or not any(isinstance(x, dict) for x in v.values()):
            return json.dumps(v, ensure_ascii=False)
        items = [f'{pad} {json.dumps(k)}: {dump(x, pad + " ")}' for k, x in v.items()]
        return '{\n' + ',\n'.join(items) + '\n' + pad + '}'
    return dump(d, '') + '\n'

def version_of(src):
    try: return src.read('VERSION').strip()
    except (subprocess.CalledProcessError, FileNotFoundError): return None

def extract(path):
    "The keys.json mapping for the axolotl source at `path`."
    src = Source(path)
    mods = parse_modules(src, SCHEMAS)
    root = resolve(ROOT_MODEL, f'{SCHEMAS[4:].replace("/", ".")}.config', mods)
    keys = fields(*root, mods)
    models = nested_models(keys, mods)
    dataset = models[DATASET_MODEL]
    chat = resolve('ChatTemplate', dataset[0], mods)[1]
    dataset_keys = fields(*dataset, mods)
    return {'axolotl_version': version_of(src), 'commit': src.commit(),
            'source': 'github.com/axolotl-ai-cloud/axolotl src/axolotl/utils/schemas',
            'licence': 'Apache-2.0',
            'format': 'type and default are Python source text; default null = required; '
                      'where = file:line class in the snapshot; alias_of = the field an alias fills',
            'keys': keys, 'dataset_keys': dataset_keys,
            'models': {n: fields(*m, mods) for n, m in sorted(models.items()) if n != DATASET_MODEL},
            'chat_templates': enum_values(chat) + ['tokenizer_default_fallback_<name>'],
            'train_on_eos': literal_values(dataset_keys['train_on_eos']['type']),
            'plugin_keys_licence': 'src/axolotl/integrations: Axolotl Community License; '
                                   'names, types and defaults only',
            'plugin_keys': plugin_keys(src)}

def main(argv):
    if len(argv) < 2: sys.exit(__doc__)
    out = Path(argv[2] if len(argv) > 2 else Path(__file__).parent.parent/'data/axolotl/keys.json')
    data = extract(argv[1])
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(compact_json(public(data)))
    commit = data['commit'][:9] if data['commit'] else 'no git commit'
    print(f'{out}: {len(data["keys"])} keys, {len(data["dataset_keys"])} dataset keys, '
          f'{len(data["plugin_keys"])} plugin keys (axolotl {data["axolotl_version"]}, {commit})')

if __name__ == '__main__': main(sys.argv)
