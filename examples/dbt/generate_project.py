"""Generates a dbt project of N models on DuckDB, shaped like a real one: staging models on
sources, marts joining them, macros, configs, variables, schema tests.

    python generate_project.py DIRECTORY [--models 600]

Every model calls a macro or uses a Jinja block, so dbt renders it with Jinja (the static
parser only handles models made of ref/source/config alone): that is the path the bytecode
cache serves.
"""

import argparse
import os
import textwrap

MACROS = {
    "cents_to_dollars.sql": """
        {% macro cents_to_dollars(column, scale=2) -%}
            round({{ column }} / 100.0, {{ scale }})
        {%- endmacro %}
    """,
    "surrogate_key.sql": """
        {% macro surrogate_key(columns) -%}
            md5({% for c in columns -%}
                coalesce(cast({{ c }} as varchar), '')
                {%- if not loop.last %} || '-' || {% endif %}
            {%- endfor %})
        {%- endmacro %}
    """,
    "date_spine_filter.sql": """
        {% macro recent(column, days=var('lookback_days', 30)) -%}
            {{ column }} >= current_date - interval '{{ days }} days'
        {%- endmacro %}
    """,
}


def staging(i: int) -> str:
    return f"""
        {{{{ config(materialized='view', tags=['staging', 'group_{i % 12}']) }}}}
        {{% set cols = ['id', 'customer_id', 'amount_cents', 'created_at'] %}}
        select
            {{{{ surrogate_key(['id', 'customer_id']) }}}} as key,
            {{% for c in cols %}}{{{{ c }}}}{{% if not loop.last %}}, {{% endif %}}{{% endfor %}},
            {{{{ cents_to_dollars('amount_cents') }}}} as amount
        from {{{{ source('raw', 'orders_{i % 8}') }}}}
        where {{{{ recent('created_at') }}}}
    """


def mart(i: int, upstream: list) -> str:
    joins = "\n".join(
        f"left join {{{{ ref('{name}') }}}} as u{n} on u{n}.key = base.key"
        for n, name in enumerate(upstream[1:], 1)
    )
    return f"""
        {{{{ config(materialized='table' if {i % 3} == 0 else 'view', tags=['mart']) }}}}
        {{% if var('include_amounts', true) %}}
        select base.key, {{{{ cents_to_dollars('base.amount_cents', 4) }}}} as amount_precise
        {{% else %}}
        select base.key
        {{% endif %}}
        from {{{{ ref('{upstream[0]}') }}}} as base
        {joins}
    """


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("directory")
    parser.add_argument("--models", type=int, default=600)
    args = parser.parse_args()
    root = os.path.abspath(args.directory)

    def write(path: str, text: str) -> None:
        full = os.path.join(root, path)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(full, "w", encoding="utf-8") as f:
            f.write(textwrap.dedent(text).lstrip())

    write(
        "dbt_project.yml",
        """
        name: demo
        version: "1.0.0"
        config-version: 2
        profile: demo
        vars:
          lookback_days: 30
          include_amounts: true
        models:
          demo:
            +materialized: view
    """,
    )
    write(
        "profiles.yml",
        f"""
        demo:
          target: dev
          outputs:
            dev:
              type: duckdb
              path: {os.path.join(root, "demo.duckdb")}
              threads: 1
    """,
    )
    for name, body in MACROS.items():
        write(os.path.join("macros", name), body)
    write(
        "models/sources.yml",
        "version: 2\nsources:\n  - name: raw\n    tables:\n"
        + "".join(f"      - name: orders_{n}\n" for n in range(8)),
    )
    staged = max(args.models // 3, 1)
    names = []
    schema = ["version: 2", "models:"]
    for i in range(args.models):
        if i < staged:
            name = f"stg_orders_{i:04d}"
            write(f"models/staging/group_{i % 12}/{name}.sql", staging(i))
        else:
            name = f"mart_{i:04d}"
            upstream = [names[(i * 7 + k * 13) % len(names)] for k in range(3)]
            write(f"models/marts/group_{i % 12}/{name}.sql", mart(i, upstream))
        names.append(name)
        if i % 4 == 0:
            schema += [
                f"  - name: {name}",
                "    columns:",
                "      - name: key",
                "        data_tests: [not_null, unique]",
            ]
    write("models/schema.yml", "\n".join(schema) + "\n")
    print(f"{args.models} models in {root}")


if __name__ == "__main__":
    main()
