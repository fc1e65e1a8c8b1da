"""ParseCacheMixin: Environment.parse through the bytecode cache, against real Jinja."""

import decimal

import jinja2
import jinja2.bccache
import pytest
from jinja2 import Environment, nodes
from jinja2.ext import Extension
from jinja2.sandbox import SandboxedEnvironment

import jinja_bccache
from jinja_bccache import FileSystemBytecodeCache, FromStringCacheMixin, ParseCacheMixin
from jinja_bccache._parse_cache import PARSE_NAME

SOURCES = [
    "plain text only",
    "{{ a.b['c'] | default('x', true) }} {{ -1.5e3 }} {{ (1, 2.0, 'x') }} {{ [1, {'k': v}] }}",
    "{% for k, v in items|dictsort if v is not none %}{{ loop.index }}{% else %}-{% endfor %}",
    "{% macro m(a, b=2) %}{{ caller() if caller }}{{ varargs }}{% endmacro %}"
    "{% call(x) m(1) %}{{ x }}{% endcall %}",
    "{% set x %}block{% endset %}{% set a, b = 1, 2 %}{{ x ~ a }}{{ s[1:-1:2] }}",
    "{% if a %}1{% elif b %}2{% else %}3{% endif %}{% raw %}{{ not parsed }}{% endraw %}",
    "{%- with x = 1 -%} {{ x is even }} {%- endwith %}{# a comment #}",
    "{% extends base %}{% block b scoped required %}{% endblock %}",
    "{% import 'x' as y with context %}{% from 'z' import q as r %}{% include ['a', 'b'] %}",
    "{% filter upper %}{{ x if y else z }}{% endfilter %}{% autoescape true %}{% endautoescape %}",
    "{% do items.append(1) %}{% for x in y %}{% break %}{% continue %}{% endfor %}",
    "{% trans count=n %}one {{ count }}{% pluralize %}many{% endtrans %}{{ _('x') }}",
    "{{ 'caf\u00e9 \U0001f600' }} {{ 10 // 3 ** 2 % 4 }} {{ not a and b or c in d }}",
]

EXTENSIONS = ["jinja2.ext.do", "jinja2.ext.loopcontrols", "jinja2.ext.i18n"]


class ParsingEnv(ParseCacheMixin, Environment):
    pass


class ParsingSandbox(ParseCacheMixin, FromStringCacheMixin, SandboxedEnvironment):
    pass


@pytest.fixture
def cache(tmp_path):
    return FileSystemBytecodeCache(str(tmp_path))


def tree_state(node):
    """Everything a node holds but its Environment, recursively: what a tree is."""
    if isinstance(node, nodes.Node):
        state = {k: tree_state(v) for k, v in vars(node).items() if k != "environment"}
        return (type(node), state)
    if isinstance(node, (list, tuple)):
        return (type(node), [tree_state(v) for v in node])
    return (type(node), node)


def all_nodes(tree):
    yield tree
    for child in tree.iter_child_nodes():
        yield from all_nodes(child)


@pytest.mark.parametrize("source", SOURCES)
def test_a_tree_from_the_store_is_the_tree_parsing_gives(cache, source):
    env = ParsingEnv(bytecode_cache=cache, extensions=EXTENSIONS)
    parsed = Environment(extensions=EXTENSIONS).parse(source)
    first = env.parse(source)
    jinja_bccache.memory_cache_clear()  # the next one comes from the directory
    again = ParsingEnv(
        bytecode_cache=FileSystemBytecodeCache(cache.directory), extensions=EXTENSIONS
    )
    loaded = again.parse(source)
    assert tree_state(first) == tree_state(parsed)
    assert tree_state(loaded) == tree_state(parsed)
    assert loaded == parsed  # Jinja's own comparison too
    assert again.bytecode_cache.stats()["hits"] == 1
    # what Jinja does with a tree: the loaded one compiles to the same code
    assert again.compile(loaded, raw=True) == Environment(extensions=EXTENSIONS).compile(
        parsed, raw=True
    )


def test_every_load_builds_the_callers_own_tree(cache):
    env = ParsingEnv(bytecode_cache=cache)
    source = "{% for x in y %}{{ x }}{% endfor %}"
    first = env.parse(source)
    second = env.parse(source)
    third = ParsingEnv(bytecode_cache=cache).parse(source)
    ids = [set(map(id, all_nodes(tree))) for tree in (first, second, third)]
    assert not ids[0] & ids[1] and not ids[1] & ids[2] and not ids[0] & ids[2]
    # a caller changing its tree changes nobody else's
    second.body[0].target.name = "changed"
    second.body.append(nodes.Output([nodes.TemplateData("more")]))
    assert tree_state(env.parse(source)) == tree_state(Environment().parse(source))
    assert env.bytecode_cache.stats()["hits"] == 3


def test_nodes_belong_to_the_environment_that_asked(cache):
    source = "{{ a }}{% if b %}{{ c|upper }}{% endif %}"
    ParsingEnv(bytecode_cache=cache).parse(source)
    env = ParsingEnv(bytecode_cache=cache)
    tree = env.parse(source)
    assert all(node.environment is env for node in all_nodes(tree))


def test_configurations_that_parse_differently_get_their_own_trees(cache):
    source = "<% if a %>x<% endif %>{{ y }}\n# line"
    envs = [
        ParsingEnv(bytecode_cache=cache),
        ParsingEnv(bytecode_cache=cache, block_start_string="<%", block_end_string="%>"),
        ParsingEnv(bytecode_cache=cache, line_comment_prefix="#"),
        ParsingEnv(bytecode_cache=cache, trim_blocks=True),
    ]
    plain = [
        Environment(block_start_string="<%", block_end_string="%>"),
        Environment(line_comment_prefix="#"),
    ]
    for _ in range(2):  # stored, then loaded
        trees = [tree_state(env.parse(source)) for env in envs]
        assert trees[0] == tree_state(Environment().parse(source))
        assert trees[1] == tree_state(plain[0].parse(source))
        assert trees[2] == tree_state(plain[1].parse(source))
        assert trees[0] != trees[1] and trees[0] != trees[2]
    stats = cache.stats()
    assert stats["writes"] == len(envs) and stats["hits"] == len(envs)


def test_extensions_are_part_of_the_key(cache):
    source = "{% do x.append(1) %}"
    with pytest.raises(jinja2.TemplateSyntaxError):
        ParsingEnv(bytecode_cache=cache).parse(source)
    tree = ParsingEnv(bytecode_cache=cache, extensions=["jinja2.ext.do"]).parse(source)
    assert isinstance(tree.body[0], nodes.ExprStmt)
    with pytest.raises(jinja2.TemplateSyntaxError):  # still Jinja's error, not the other's tree
        ParsingEnv(bytecode_cache=cache).parse(source)


def test_the_name_and_file_name_are_part_of_the_key(cache):
    env = ParsingEnv(bytecode_cache=cache)
    for name, filename in [(None, None), ("a.html", None), ("a.html", "/x/a.html"), ("b", None)]:
        env.parse("{{ x }}", name, filename)
        env.parse("{{ x }}", name, filename)
    assert cache.stats()["writes"] == 4 and cache.stats()["hits"] == 4


def test_a_syntax_error_is_jinjas_and_nothing_is_stored(cache):
    env = ParsingEnv(bytecode_cache=cache)
    with pytest.raises(jinja2.TemplateSyntaxError) as ours:
        env.parse("{% if %}", "t.html")
    with pytest.raises(jinja2.TemplateSyntaxError) as theirs:
        Environment().parse("{% if %}", "t.html")
    assert (ours.value.message, ours.value.lineno, ours.value.name) == (
        theirs.value.message,
        theirs.value.lineno,
        theirs.value.name,
    )
    assert cache.stats()["writes"] == 0


class DecimalExtension(Extension):
    """Puts an object that is not plain data into its node (Jinja allows no node classes of
    an extension's own)."""

    tags = {"decimal"}

    def parse(self, parser):
        lineno = next(parser.stream).lineno
        value = decimal.Decimal(parser.parse_expression().value)
        return nodes.Output([nodes.Const(value)], lineno=lineno)


def test_a_tree_holding_more_than_plain_data_is_parsed_every_time(cache):
    env = ParsingEnv(bytecode_cache=cache, extensions=[DecimalExtension])
    first = env.parse("{% decimal '1.5' %}")
    second = env.parse("{% decimal '1.5' %}")
    assert second.body[0].nodes[0].value == decimal.Decimal("1.5")
    assert first is not second
    assert cache.stats()["writes"] == 0
    assert env.from_string("{% decimal '1.5' %}").render() == "1.5"


class TypedParser(jinja2.parser.Parser):
    """As dbt's parser: an attribute beside a node's fields."""

    def parse_macro(self):
        node = super().parse_macro()
        node.arg_types = ["" for _ in node.args]
        return node


class TypedEnv(ParseCacheMixin, Environment):
    def _parse(self, source, name, filename):
        return TypedParser(self, source, name, filename).parse()


def test_attributes_a_parser_adds_are_kept(cache):
    source = "{% macro m(a, b) %}{% endmacro %}"
    TypedEnv(bytecode_cache=cache).parse(source)
    jinja_bccache.memory_cache_clear()
    tree = TypedEnv(bytecode_cache=FileSystemBytecodeCache(cache.directory)).parse(source)
    assert tree.body[0].arg_types == ["", ""]
    # and the parser class is part of the key: Jinja's own parser adds nothing
    plain = ParsingEnv(bytecode_cache=cache).parse(source)
    assert not hasattr(plain.body[0], "arg_types")


def test_an_entry_that_carries_no_tree_is_parsed_again_and_replaced(cache):
    env = ParsingEnv(bytecode_cache=cache)
    source = "{{ x }}"
    checksum = cache.get_source_checksum(source)
    bucket = cache.get_bucket(env, PARSE_NAME + checksum, None, source)
    bucket.code = compile("1", "<planted>", "exec")  # code, but no tree in it
    cache.set_bucket(bucket)
    tree = env.parse(source)
    assert tree_state(tree) == tree_state(Environment().parse(source))
    jinja_bccache.memory_cache_clear()
    assert tree_state(env.parse(source)) == tree_state(tree)


@pytest.mark.parametrize(
    "make",
    [
        lambda d: jinja2.bccache.FileSystemBytecodeCache(d),
        lambda d: FileSystemBytecodeCache(d, isolate_environments=False),
        lambda d: None,
    ],
    ids=["jinja2's", "not isolating", "none"],
)
def test_without_an_isolating_cache_of_ours_parse_is_jinjas(tmp_path, make):
    env = ParsingEnv(bytecode_cache=make(str(tmp_path)))
    assert env.parse("{{ x }}") == Environment().parse("{{ x }}")
    assert list(tmp_path.iterdir()) == []


class NestedParse(Extension):
    """Parses another source while the template that uses it compiles."""

    tags = {"nested"}

    def parse(self, parser):
        lineno = next(parser.stream).lineno
        inner = self.environment.parse("{{ inner }}")
        return nodes.Output(inner.body[0].nodes, lineno=lineno)


def test_a_parse_made_while_a_template_compiles_leaves_its_recording_alone(cache):
    source = "{% nested %}{{ 'a'|upper }}"
    env = ParsingSandbox(bytecode_cache=cache, extensions=[NestedParse])
    assert env.from_string(source).render(inner=1) == "1A"
    # the template was stored with what its compilation read: a new process loads it
    jinja_bccache.memory_cache_clear()
    fresh = FileSystemBytecodeCache(cache.directory)
    again = ParsingSandbox(bytecode_cache=fresh, extensions=[NestedParse])
    assert again.from_string(source).render(inner=2) == "2A"
    # loaded and used: not compiled again (which would parse the nested source, and write)
    stats = fresh.stats()
    assert (stats["hits"], stats["misses"], stats["writes"]) == (1, 0, 0)
