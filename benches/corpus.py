"""A deterministic, web-app-shaped Jinja template corpus for benchmarks and the demo.

``write_corpus(directory, count)`` writes ``count`` templates: one ``base.html`` layout,
``layouts/*`` extending it, ``macros/*`` pulled in with ``{% import %}`` / ``{% from %}``,
``partials/*`` pulled in with ``{% include %}``, and ``pages/*`` extending the layouts. Pages
come in three sizes, because a bytecode cache's cost per load scales with the size of the
compiled code it unmarshals:

* small  -- a few hundred bytes of source (a stub page),
* medium -- a few KB (a typical page: a handful of sections),
* large  -- 30-60 KB with dozens of nested blocks (a dashboard or a long landing page).

``context()`` is a render context with which *every* template written renders under the
default ``Undefined``; ``by_size(names)`` groups names by the size of their source.

Everything is drawn from seeded ``random.Random`` instances, so two runs (or two processes)
produce byte-identical corpora and contexts.

Long because most of it is data: the template sources the corpus is assembled from.
"""

from __future__ import annotations

import os
import random

__all__ = ["SEED", "SIZES", "by_size", "context", "write_corpus"]

SEED = 1729

#: Source-size thresholds for :func:`by_size`. Pages are generated well inside each band.
SMALL_MAX = 1536
MEDIUM_MAX = 16 * 1024

#: Filled in by :func:`write_corpus`: "small" / "medium" / "large" -> names, by source size.
SIZES: dict[str, list[str]] = {"small": [], "medium": [], "large": []}

_WORDS = (
    "account order invoice customer shipping return refund product catalog price discount "
    "coupon basket checkout payment card address delivery warehouse stock supplier review "
    "rating support ticket team project report dashboard settings profile notification "
    "message release feature update security privacy policy terms guide tutorial question "
    "answer community event webinar pricing plan trial upgrade billing export import "
    "analytics metric quarter revenue growth partner integration api webhook token session"
).split()


def _words(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(_WORDS) for _ in range(n))


def _sentence(rng: random.Random, n: int) -> str:
    return _words(rng, n).capitalize() + "."


def _url(rng: random.Random) -> str:
    return "/" + "/".join(rng.sample(_WORDS, 2)) + "/"


# --------------------------------------------------------------------------------------------
# Fixed templates: the skeleton every page sits on.
# --------------------------------------------------------------------------------------------

_BASE = """\
<!doctype html>
<html lang="{{ site.lang|default('en') }}">
<head>
  <meta charset="utf-8">
  <title>{% block title %}{{ site.name }}{% endblock %} | {{ site.tagline|e }}</title>
  {% include "partials/meta.html" %}
  {% block head %}<link rel="stylesheet" href="{{ site.static_url }}/app.css">{% endblock %}
</head>
<body class="{% block body_class %}page{% endblock %}">
  {% include "partials/nav.html" %}
  {% include "partials/flash.html" %}
  <main id="content">
  {% block content %}<p>{{ site.description|e }}</p>{% endblock %}
  </main>
  {% block footer %}{% include "partials/footer.html" %}{% endblock %}
  {% block scripts %}<script src="{{ site.static_url }}/app.js" defer></script>{% endblock %}
</body>
</html>
"""

_LAYOUTS = {
    "layouts/one_column.html": """\
{% extends "base.html" %}
{% block content %}
  {% block breadcrumbs %}{% endblock %}
  <div class="container narrow">{% block main %}{% endblock %}</div>
{% endblock %}
""",
    "layouts/two_column.html": """\
{% extends "base.html" %}
{% block body_class %}{{ super() }} with-sidebar{% endblock %}
{% block content %}
  <div class="container">
    <div class="col-main">{% block main %}{% endblock %}</div>
    <aside class="col-side">{% block sidebar %}{% include "partials/sidebar.html" %}{% endblock %}</aside>
  </div>
{% endblock %}
""",
    "layouts/admin.html": """\
{% extends "base.html" %}
{% from "macros/ui.html" import alert %}
{% block body_class %}admin{% endblock %}
{% block content %}
  <nav class="admin-nav"><ul>
  {%- for section in admin_sections %}
    <li{% if section.slug == request.section %} class="active"{% endif %}>
      <a href="/admin/{{ section.slug }}/">{{ section.label|e }}</a>
      {%- if section.count %} <span class="count">{{ section.count }}</span>{% endif %}
    </li>
  {%- endfor %}
  </ul></nav>
  {% if maintenance %}{{ alert("Maintenance window tonight at " ~ maintenance, "warning") }}{% endif %}
  <div class="admin-body">{% block main %}{% endblock %}</div>
{% endblock %}
""",
    "layouts/marketing.html": """\
{% extends "base.html" %}
{% block body_class %}marketing{% endblock %}
{% block content %}
  <header class="hero">{% block hero %}<h1>{{ site.tagline|e }}</h1>{% endblock %}</header>
  {% block main %}{% endblock %}
  <section class="cta">{% block cta %}
    <a class="button" href="/signup">{{ "start your free trial"|title }}</a>
  {% endblock %}</section>
{% endblock %}
""",
}

# Macros take all their data as arguments: an imported template does not see the caller's
# context (Jinja imports are "without context" by default).
_MACROS = {
    "macros/forms.html": """\
{% macro label(name, text=none) -%}
<label for="id_{{ name }}">{{ text|default(name|replace('_', ' ')|capitalize, true) }}</label>
{%- endmacro %}

{% macro input(name, value='', type='text', errors=none, required=false) -%}
<div class="field{% if errors %} has-error{% endif %}">
  {{ label(name, kwargs.label) }}
  <input type="{{ type }}" id="id_{{ name }}" name="{{ name }}" value="{{ value|e }}"
         {%- if required %} required{% endif %}>
  {%- for msg in errors or [] %}<p class="error">{{ msg|e }}</p>{% endfor %}
</div>
{%- endmacro %}

{% macro textarea(name, value='', rows=4) -%}
<div class="field">{{ label(name) }}<textarea id="id_{{ name }}" name="{{ name }}" rows="{{ rows }}">{{ value|e }}</textarea></div>
{%- endmacro %}

{% macro select(name, options, selected=none) -%}
<div class="field">{{ label(name) }}
<select id="id_{{ name }}" name="{{ name }}">
  {%- for value, text in options %}
  <option value="{{ value|e }}"{% if value == selected %} selected{% endif %}>{{ text|e }}</option>
  {%- endfor %}
</select></div>
{%- endmacro %}

{% macro checkbox(name, checked=false, text='') -%}
<label class="check"><input type="checkbox" name="{{ name }}"{% if checked %} checked{% endif %}> {{ text or name|title }}</label>
{%- endmacro %}

{% macro csrf(token) -%}
<input type="hidden" name="csrf_token" value="{{ token }}">
{%- endmacro %}
""",
    "macros/tables.html": """\
{% macro badge(status) -%}
{%- set colors = {'paid': 'green', 'pending': 'amber', 'refunded': 'grey', 'failed': 'red'} -%}
<span class="badge badge-{{ colors[status]|default('blue') }}">{{ status|upper }}</span>
{%- endmacro %}

{% macro data_table(rows, columns, caption='') -%}
<table class="table">
  {% if caption %}<caption>{{ caption|e }}</caption>{% endif %}
  <thead><tr>{% for col in columns %}<th scope="col">{{ col|replace('_', ' ')|title }}</th>{% endfor %}</tr></thead>
  <tbody>
  {%- for row in rows %}
    <tr class="{{ loop.cycle('odd', 'even') }}">
      {%- for col in columns %}<td>{{ row[col]|default('-') }}</td>{% endfor -%}
    </tr>
  {%- else %}
    <tr><td colspan="{{ columns|length }}">Nothing to show.</td></tr>
  {%- endfor %}
  </tbody>
</table>
{%- endmacro %}
""",
    "macros/pagination.html": """\
{% macro pager(page, pages, base_url) -%}
<nav class="pager">
  {%- if page > 1 %}<a rel="prev" href="{{ base_url }}?page={{ page - 1 }}">&laquo; Prev</a>{% endif %}
  {%- for p in range(1, pages + 1) %}
    {%- if p == page %}<span class="current">{{ p }}</span>
    {%- elif p <= 2 or p > pages - 2 or (p - page)|abs <= 1 %}<a href="{{ base_url }}?page={{ p }}">{{ p }}</a>
    {%- elif p == 3 or p == pages - 2 %}<span class="gap">&hellip;</span>
    {%- endif %}
  {%- endfor %}
  {%- if page < pages %}<a rel="next" href="{{ base_url }}?page={{ page + 1 }}">Next &raquo;</a>{% endif %}
</nav>
{%- endmacro %}

{% macro breadcrumbs(trail) -%}
<ol class="breadcrumbs">
  {%- for href, text in trail %}
  <li>{% if not loop.last %}<a href="{{ href }}">{{ text|e }}</a>{% else %}{{ text|e }}{% endif %}</li>
  {%- endfor %}
</ol>
{%- endmacro %}
""",
    "macros/ui.html": """\
{% macro alert(message, level='info') -%}
<div class="alert alert-{{ level }}" role="alert">{{ message|e }}</div>
{%- endmacro %}

{% macro card(title, footer=none) -%}
<div class="card">
  <h3 class="card-title">{{ title|e }}</h3>
  <div class="card-body">{{ caller() }}</div>
  {%- if footer %}<div class="card-footer">{{ footer|e }}</div>{% endif %}
</div>
{%- endmacro %}

{% macro avatar(user, size=32) -%}
<img class="avatar" src="{{ user.avatar_url|default('/static/anon.png') }}?s={{ size }}"
     width="{{ size }}" height="{{ size }}" alt="{{ user.name|default('anonymous')|e }}">
{%- endmacro %}
""",
}

# Partials read only names that context() defines at the top level; where they are included
# inside a loop the loop variable (``product``, ``comment``) shadows the top-level one.
_PARTIALS = {
    "partials/meta.html": """\
<meta name="description" content="{{ site.description|truncate(150)|e }}">
<meta property="og:site_name" content="{{ site.name|e }}">
<meta property="og:url" content="{{ site.base_url }}{{ request.path }}">
""",
    "partials/nav.html": """\
<nav class="top"><a class="brand" href="/">{{ site.name|e }}</a>
<ul>
{%- for item in navigation %}
  <li{% if item.href == request.path %} class="active"{% endif %}><a href="{{ item.href }}">{{ item.caption|e }}</a></li>
{%- endfor %}
</ul>
{% if current_user.is_authenticated %}{% include "partials/user_badge.html" %}
{% else %}<a href="/login?next={{ request.path|urlencode }}">Sign in</a>{% endif %}
</nav>
""",
    "partials/user_badge.html": """\
<span class="user">{{ current_user.name|title }}{% if current_user.is_staff %} (staff){% endif %}
{%- if current_user.unread %} <b>{{ current_user.unread }}</b>{% endif %}</span>
""",
    "partials/flash.html": """\
{% for category, message in messages %}
<div class="flash flash-{{ category }}">{{ message|e }}</div>
{% endfor %}
""",
    "partials/footer.html": """\
<footer>
{% for column in footer_links|batch(3) %}
  <ul>{% for text, href in column %}<li><a href="{{ href }}">{{ text }}</a></li>{% endfor %}</ul>
{% endfor %}
<p>&copy; {{ now.year }} {{ site.name|e }}. {{ site.legal|default('All rights reserved.') }}</p>
</footer>
""",
    "partials/sidebar.html": """\
<h4>Categories</h4>
<ul>{% for category in categories %}<li><a href="/c/{{ category.slug }}">{{ category.name|e }}</a></li>{% endfor %}</ul>
<h4>Popular tags</h4>
<p class="tags">{{ tags|sort|join(' &middot; ') }}</p>
""",
    "partials/product_card.html": """\
<div class="product{% if not product.in_stock %} sold-out{% endif %}">
  <a href="/p/{{ product.sku|lower }}"><h4>{{ product.name|e }}</h4></a>
  <p class="price">{{ "%.2f"|format(product.price) }} {{ site.currency }}</p>
  <p>{{ product.summary|truncate(80)|e }}</p>
  {%- if product.rating %} <span class="stars">{{ "*" * product.rating }}</span>{% endif %}
</div>
""",
    "partials/comment.html": """\
<div class="comment" id="c{{ comment.id }}">
  <p class="by">{{ comment.author|default('anonymous')|e }} on {{ comment.date }}</p>
  <p>{{ comment.text|e }}</p>
</div>
""",
}

_FIXED = {"base.html": _BASE, **_LAYOUTS, **_MACROS, **_PARTIALS}

# How each page refers to the macro modules; a page imports only what its sections use.
_IMPORTS = {
    "forms": '{% import "macros/forms.html" as forms %}',
    "tables": '{% import "macros/tables.html" as tables %}',
    "pagination": '{% from "macros/pagination.html" import pager, breadcrumbs %}',
    "ui": '{% import "macros/ui.html" as ui %}',
}


# --------------------------------------------------------------------------------------------
# Page sections. Each returns (jinja source, macro modules it needs); the random choices make
# every page's source, and so its compiled code, distinct.
# --------------------------------------------------------------------------------------------


def _sec_prose(rng: random.Random) -> tuple[str, set[str]]:
    paras = "\n".join(
        f"<p>{_sentence(rng, rng.randint(12, 30))} {{{{ site.name }}}} {_sentence(rng, rng.randint(8, 20))}</p>"
        for _ in range(rng.randint(1, 3))
    )
    return f"<h2>{_words(rng, 3).title()}</h2>\n{paras}\n", set()


def _sec_products(rng: random.Random) -> tuple[str, set[str]]:
    return (
        f"""<section class="products">
  <h2>{{{{ "{_words(rng, 2)}"|title }}}}</h2>
  {{% set shown = products|selectattr("in_stock")|list %}}
  <p>{{{{ shown|length }}}} of {{{{ products|length }}}} in stock</p>
  <div class="grid">
  {{% for product in shown[:{rng.randint(3, 12)}] %}}{{% include "partials/product_card.html" %}}{{% endfor %}}
  </div>
</section>
""",
        set(),
    )


def _sec_orders_table(rng: random.Random) -> tuple[str, set[str]]:
    cols = rng.sample(["number", "customer", "total", "status", "placed", "country"], 4)
    return (
        f"""<h2>Recent orders</h2>
{{{{ tables.data_table(orders[:{rng.randint(5, 15)}], {cols!r}, caption="{_words(rng, 4)}") }}}}
""",
        {"tables"},
    )


def _sec_orders_loop(rng: random.Random) -> tuple[str, set[str]]:
    return (
        f"""<ul class="orders">
{{% for order in (orders|sort(attribute="total", reverse={rng.choice(["true", "false"])}))[:{rng.randint(4, 12)}] %}}
  <li>#{{{{ order.number }}}} {{{{ order.customer|e }}}} &ndash; {{{{ "%.2f"|format(order.total) }}}}
    ({{{{ order.lines|sum(attribute="qty") }}}} items) {{{{ tables.badge(order.status) }}}}
    {{% if order.note %}}<em>{{{{ order.note|truncate({rng.randint(20, 60)}) }}}}</em>{{% endif %}}</li>
{{% endfor %}}
</ul>
""",
        {"tables"},
    )


def _sec_form(rng: random.Random) -> tuple[str, set[str]]:
    return (
        f"""<form method="post" action="{_url(rng)}">
  {{{{ forms.csrf(csrf_token) }}}}
  {{{{ forms.input("email", current_user.email, type="email", errors=form_errors.email, required=true) }}}}
  {{{{ forms.input("full_name", current_user.name, label="Your name") }}}}
  {{{{ forms.select("country", countries, selected=current_user.country) }}}}
  {{{{ forms.textarea("message", rows={rng.randint(3, 8)}) }}}}
  {{{{ forms.checkbox("newsletter", current_user.newsletter, "{_words(rng, 3)}") }}}}
  <button type="submit">{{{{ "{rng.choice(["send", "save", "subscribe", "update"])}"|capitalize }}}}</button>
</form>
""",
        {"forms"},
    )


def _sec_posts(rng: random.Random) -> tuple[str, set[str]]:
    return (
        f"""<section class="posts">
{{% for post in posts|sort(attribute="published", reverse=true) %}}
  <article class="{{{{ loop.cycle("left", "right") }}}}">
    <h3><a href="/blog/{{{{ post.slug }}}}">{{{{ post.title|e }}}}</a></h3>
    <p class="meta">{{{{ post.author|default("staff") }}}} &middot; {{{{ post.published }}}} &middot; {{{{ post.tags|join(", ") }}}}</p>
    <p>{{{{ post.body|truncate({rng.randint(60, 240)}) }}}}</p>
    {{% if post.comment_count %}}<a href="/blog/{{{{ post.slug }}}}#comments">{{{{ post.comment_count }}}} comments</a>{{% endif %}}
  </article>
{{% endfor %}}
</section>
""",
        set(),
    )


def _sec_comments(rng: random.Random) -> tuple[str, set[str]]:
    return (
        f"""<section id="comments"><h3>{{{{ comments|length }}}} comments</h3>
{{% for comment in comments[:{rng.randint(3, 10)}] %}}{{% include "partials/comment.html" %}}{{% else %}}<p>Be the first.</p>{{% endfor %}}
</section>
""",
        set(),
    )


def _sec_stats(rng: random.Random) -> tuple[str, set[str]]:
    return (
        f"""{{% set revenue = orders|sum(attribute="total") %}}
{{% set paid = orders|selectattr("status", "equalto", "paid")|list %}}
<dl class="stats">
  <dt>{_words(rng, 2).title()}</dt><dd>{{{{ "%.2f"|format(revenue) }}}} {{{{ site.currency }}}}</dd>
  <dt>Average order</dt><dd>{{{{ (revenue / (orders|length or 1))|round({rng.randint(0, 2)}) }}}}</dd>
  <dt>Paid</dt><dd>{{{{ paid|length }}}} / {{{{ orders|length }}}} ({{{{ (100 * paid|length / (orders|length or 1))|int }}}}%)</dd>
  <dt>Best customer</dt><dd>{{{{ (orders|sort(attribute="total")|last).customer|e }}}}</dd>
</dl>
""",
        set(),
    )


def _sec_faq(rng: random.Random) -> tuple[str, set[str]]:
    items = "\n".join(
        f"  <dt>{_sentence(rng, rng.randint(4, 9))[:-1]}?</dt><dd>{_sentence(rng, rng.randint(10, 25))}</dd>"
        for _ in range(rng.randint(2, 5))
    )
    return (
        f"""<dl class="faq">
{items}
</dl>
{{% if current_user.is_authenticated and current_user.is_staff %}}<p>Edit these answers in the admin.</p>
{{% elif current_user.is_authenticated %}}<p>Still stuck, {{{{ current_user.name|title }}}}? <a href="/support">Ask us</a>.</p>
{{% else %}}<p><a href="/login">Sign in</a> to ask a question.</p>{{% endif %}}
""",
        set(),
    )


def _sec_categories(rng: random.Random) -> tuple[str, set[str]]:
    return (
        f"""{{% for category in categories %}}
<h3 id="{{{{ category.slug }}}}">{{{{ category.name|upper }}}}</h3>
<ul>
  {{% for product in products if product.category == category.slug %}}
  <li>{{{{ product.name|e }}}}{{% if product.price > {rng.randint(20, 80)} %}} <span class="premium">premium</span>{{% endif %}}</li>
  {{% else %}}<li>Coming soon.</li>
  {{% endfor %}}
</ul>
{{% endfor %}}
""",
        set(),
    )


def _sec_pager(rng: random.Random) -> tuple[str, set[str]]:
    return (
        f"""{{{{ breadcrumbs([("/", "Home"), ("/{rng.choice(_WORDS)}", "{_words(rng, 1).title()}"), (request.path, "{_words(rng, 2)}")]) }}}}
{{{{ pager(page, pages, request.path) }}}}
""",
        {"pagination"},
    )


def _sec_card(rng: random.Random) -> tuple[str, set[str]]:
    return (
        f"""{{% call ui.card("{_words(rng, 3).title()}", footer="{_words(rng, 2)}") %}}
  {{{{ ui.avatar(current_user, {rng.choice([24, 32, 48, 64])}) }}}}
  <p>{_sentence(rng, rng.randint(8, 20))}</p>
  {{% with remaining = plan.seats - team|length %}}<p>{{{{ remaining }}}} of {{{{ plan.seats }}}} seats free on {{{{ plan.name|upper }}}}.</p>{{% endwith %}}
{{% endcall %}}
{{% if plan.trial_days_left is defined and plan.trial_days_left < {rng.randint(5, 20)} %}}{{{{ ui.alert("Your trial ends soon.", "warning") }}}}{{% endif %}}
""",
        {"ui"},
    )


def _sec_team(rng: random.Random) -> tuple[str, set[str]]:
    return (
        f"""<section class="team">
{{% for group in team|groupby("role") %}}
  <h4>{{{{ group.grouper|capitalize }}}}s ({{{{ group.list|length }}}})</h4>
  <p>{{{{ group.list|map(attribute="name")|map("title")|join(", ") }}}}</p>
{{% endfor %}}
<p>{_sentence(rng, rng.randint(6, 14))} Contact {{{{ team|map(attribute="email")|first|default("nobody") }}}}.</p>
</section>
""",
        set(),
    )


_SECTIONS = [
    _sec_prose,
    _sec_products,
    _sec_orders_table,
    _sec_orders_loop,
    _sec_form,
    _sec_posts,
    _sec_comments,
    _sec_stats,
    _sec_faq,
    _sec_categories,
    _sec_pager,
    _sec_card,
    _sec_team,
]

# The small-page stub: one short section, no macros, a few hundred bytes.
_SMALL_SECTIONS = [_sec_prose, _sec_comments, _sec_faq]

_PAGE_LAYOUTS = list(_LAYOUTS)


def _page(rng: random.Random, index: int, kind: str) -> str:
    layout = rng.choice(_PAGE_LAYOUTS)
    title = _words(rng, rng.randint(1, 4)).title()
    if kind == "small":
        body, needs = rng.choice(_SMALL_SECTIONS)(rng)
        blocks = [body]
    else:
        # Medium: a handful of sections. Large: sections until the target size is reached.
        target = rng.randint(30_000, 58_000) if kind == "large" else 0
        count = rng.randint(4, 9) if kind == "medium" else 10**6
        blocks, needs, size = [], set(), 0
        while len(blocks) < count and (not target or size < target):
            src, sec_needs = rng.choice(_SECTIONS)(rng)
            # Every section is its own block nested in "main": many blocks -> many block
            # functions in the compiled module, as in a real dashboard template.
            src = f"{{% block section_{len(blocks):02d} %}}\n{src}{{% endblock %}}\n"
            blocks.append(src)
            needs |= sec_needs
            size += len(src)
    header = [f'{{% extends "{layout}" %}}'] + [_IMPORTS[n] for n in sorted(needs)]
    parts = header + [
        f"{{% block title %}}{title} &ndash; {{{{ super() }}}}{{% endblock %}}",
        f"{{% set page_id = {index} %}}",
        "{% block main %}",
        f"<h1>{title}</h1>",
        *blocks,
        "{% endblock %}",
    ]
    if kind != "small" and layout == "layouts/two_column.html" and rng.random() < 0.5:
        parts.append(
            "{% block sidebar %}{{ super() }}<p>Page {{ page_id }} picks: "
            "{{ products|map(attribute='name')|batch(3)|first|join(', ') }}</p>{% endblock %}"
        )
    if kind == "large":
        parts.append(
            '{% block scripts %}{{ super() }}<script src="/static/dashboard.js" defer></script>{% endblock %}'
        )
    return "\n".join(parts) + "\n"


def _classify(size: int) -> str:
    return "small" if size <= SMALL_MAX else "medium" if size <= MEDIUM_MAX else "large"


def write_corpus(directory: str, count: int = 200) -> list[str]:
    """Write ``count`` templates under ``directory``; return their names, loadable by a
    ``FileSystemLoader(directory)``. The same ``count`` always yields the same bytes."""
    n_pages = count - len(_FIXED)
    if n_pages < 3:
        raise ValueError(f"count must be at least {len(_FIXED) + 3}, got {count}")
    rng = random.Random(SEED)
    # About 62% small, 34% medium, 4% large; the first three pages pin one of each, so
    # even a tiny corpus covers every size.
    kinds = ["large", "medium", "small"] + rng.choices(
        ["small", "medium", "large"], weights=[62, 34, 4], k=n_pages - 3
    )
    sources = dict(_FIXED)
    for i, kind in enumerate(kinds):
        sources[f"pages/page_{i:03d}.html"] = _page(rng, i, kind)

    for key in SIZES:
        SIZES[key] = []
    for name, src in sources.items():
        path = os.path.join(directory, *name.split("/"))
        os.makedirs(os.path.dirname(path), exist_ok=True)
        data = src.encode("utf-8")
        with open(path, "wb") as f:
            f.write(data)
        SIZES[_classify(len(data))].append(name)
    return list(sources)


def by_size(names: list[str]) -> dict[str, list[str]]:
    """Group ``names`` (from the last :func:`write_corpus`) into small / medium / large."""
    wanted = set(names)
    return {kind: [n for n in SIZES[kind] if n in wanted] for kind in SIZES}


def context() -> dict:
    """The render context: every name any corpus template reads, as plain dicts and lists."""
    rng = random.Random(SEED + 1)
    categories = [
        {"slug": s, "name": s.replace("-", " ").title()}
        for s in ["tools", "garden", "kitchen", "nuts-and-bolts", "lighting", "outdoor"]
    ]
    products = [
        {
            "sku": f"SKU-{1000 + i}",
            "name": f"{_words(rng, 2).title()} {'& More' if i % 7 == 0 else 'Kit'}",
            "price": round(rng.uniform(3, 150), 2),
            "in_stock": rng.random() < 0.75,
            "rating": rng.randint(0, 5),
            "category": rng.choice(categories)["slug"],
            "summary": _sentence(rng, rng.randint(8, 30)) + " <b>New!</b>",
        }
        for i in range(36)
    ]
    orders = [
        {
            "number": 50_000 + i,
            "customer": f"{_words(rng, 1).title()} {_words(rng, 1).title()} <{i}@example.com>",
            "total": round(rng.uniform(10, 900), 2),
            "status": rng.choice(["paid", "paid", "pending", "refunded", "failed", "on-hold"]),
            "placed": f"2024-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
            "country": rng.choice(["DE", "FR", "US", "JP", "BR"]),
            # "lines", not "items": on a dict, .items would resolve to the method.
            "lines": [
                {"sku": p["sku"], "qty": rng.randint(1, 4)} for p in rng.sample(products, 3)
            ],
            "note": _sentence(rng, 12) if rng.random() < 0.3 else "",
        }
        for i in range(24)
    ]
    posts = [
        {
            "slug": f"post-{i}",
            "title": _sentence(rng, rng.randint(3, 8))[:-1],
            "author": rng.choice(["ada", "linus", "grace", None]),
            "published": f"2024-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
            "tags": rng.sample(_WORDS, rng.randint(1, 4)),
            "body": " ".join(_sentence(rng, rng.randint(10, 25)) for _ in range(6)),
            "comment_count": rng.randint(0, 40),
        }
        for i in range(12)
    ]
    return {
        "site": {
            "name": "Acme Supplies",
            "tagline": "Everything you need & then some",
            "description": " ".join(_sentence(rng, 15) for _ in range(3)),
            "base_url": "https://shop.example.com",
            "static_url": "/static",
            "currency": "EUR",
            "lang": "en",
        },
        "request": {"path": "/shop/", "section": "orders"},
        "now": {"year": 2024},
        "current_user": {
            "is_authenticated": True,
            "is_staff": False,
            "name": "jane o'neil",
            "email": "jane@example.com",
            "country": "FR",
            "newsletter": True,
            "unread": 3,
            "avatar_url": "/media/avatars/jane.png",
        },
        "navigation": [
            {"href": h, "caption": c}
            for h, c in [
                ("/", "Home"),
                ("/shop/", "Shop"),
                ("/blog/", "Blog"),
                ("/support/", "Help"),
            ]
        ],
        "messages": [
            ("success", "Your basket was saved."),
            ("info", "Free shipping over 50 EUR <today>."),
        ],
        "footer_links": [(w.title(), f"/{w}/") for w in rng.sample(_WORDS, 8)],
        "admin_sections": [
            {"slug": s, "label": s.title(), "count": rng.randint(0, 30)}
            for s in ["orders", "products", "customers", "reports"]
        ],
        "maintenance": "23:00 UTC",
        "categories": categories,
        "tags": rng.sample(_WORDS, 12),
        "products": products,
        "product": products[0],
        "orders": orders,
        "posts": posts,
        "comments": [
            {
                "id": i,
                "author": rng.choice(["sam", "kim", None]),
                "date": f"2024-05-{i + 1:02d}",
                "text": _sentence(rng, rng.randint(5, 40)) + " <3",
            }
            for i in range(14)
        ],
        "comment": {"id": 0, "author": "sam", "date": "2024-05-01", "text": "First!"},
        "team": [
            {
                "name": rng.choice(["ada", "linus", "grace", "ken", "barbara", "dennis"])
                + f" {i}",
                "role": rng.choice(["engineer", "designer", "manager"]),
                "email": f"t{i}@example.com",
            }
            for i in range(9)
        ],
        "plan": {"name": "team", "seats": 15, "trial_days_left": 9},
        "page": 4,
        "pages": 12,
        "csrf_token": "3f9c2a17e0b84d6a",
        "form_errors": {"email": ["Enter a valid email address."]},
        "countries": [
            ("DE", "Germany"),
            ("FR", "France"),
            ("US", "United States"),
            ("JP", "Japan"),
        ],
    }
