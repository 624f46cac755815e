"""The Layout table (docs/layout.md, linked from the README) names every module of the package,
and only files that exist."""

import re

from helpers import REPO


def _layout_rows():
    text = (REPO / "docs" / "layout.md").read_text(encoding="utf-8")
    table = text.split("# Layout\n", 1)[1].strip().split("\n\n", 1)[0]
    return [line.split("|")[1] for line in table.splitlines()[2:]]


def test_the_layout_table_matches_the_tree():
    named = set()
    for cell in _layout_rows():
        for path in re.findall(r"`([^`]+)`", cell):
            if "*" in path:  # a glob row: every match counts as named, and one must exist
                matches = {p for part in path.split(", ") for p in REPO.glob(part.strip())}
                assert matches, path
                named |= {str(p.relative_to(REPO)) for p in matches}
            else:
                assert (REPO / path).exists(), f"docs/layout.md names {path}, which is not there"
                named.add(path.rstrip("/"))
    modules = {str(p.relative_to(REPO)) for p in (REPO / "dcgan").rglob("*.py")
               if p.name != "__init__.py"}
    assert modules <= named, f"modules missing from docs/layout.md: {modules - named}"


def _imports_of(path):
    """The dcgan modules that the module at `path` imports, at its top or inside a function."""
    import ast

    package = ".".join(path.relative_to(REPO).with_suffix("").parts[:-1])
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from the module's own package
                base = ".".join(filter(None, (package.rsplit(".", node.level - 1)[0], base)))
            found |= {base} | {f"{base}.{alias.name}" for alias in node.names}
    return found


def test_no_dcgan_module_imports_one_that_imports_it_back():
    modules = {".".join(p.relative_to(REPO).with_suffix("").parts).removesuffix(".__init__"): p
               for p in (REPO / "dcgan").rglob("*.py")}
    graph = {name: (_imports_of(path) & set(modules)) - {name} for name, path in modules.items()}

    def cycle_from(start, name, seen):
        for nxt in sorted(graph[name]):
            if nxt == start:
                return [*seen, start]
            if nxt not in seen and (found := cycle_from(start, nxt, [*seen, nxt])):
                return found
        return None

    cycles = [cycle for name in sorted(graph) if (cycle := cycle_from(name, name, [name]))]
    assert not cycles, "import cycle: " + " -> ".join(cycles[0])


def _flag_tables():
    """The cells of every row of docs/flags.md's tables, stripped."""
    text = (REPO / "docs" / "flags.md").read_text(encoding="utf-8")
    for line in text.splitlines():
        cells = [cell.strip() for cell in line.split("|")[1:-1]]
        if len(cells) >= 2:
            yield cells


def _flag_table_defaults():
    """(flag, default cell, default as written) for every flag in docs/flags.md's tables; the
    value is None where the default is words, not a value."""
    for cells in _flag_tables():
        if not cells[0].startswith("`--"):
            continue
        names = re.findall(r"`--(\w+)`", cells[0])
        written = re.sub(r"\s*\([^)]*\)", "", cells[1]).split(", ")
        if len(written) != len(names):
            written = [written[0]] * len(names) if len(names) == 1 else [None] * len(names)
        for name, value in zip(names, written, strict=True):
            literal = re.fullmatch(r"`([^`<]*)`|(-?[\d.e-]+)", value or "")
            yield name, cells[1], literal and (literal.group(1) if literal.group(1) is not None
                                               else literal.group(2))


def _defaults_declared_elsewhere():
    """The defaults of flags whose absl default is None because the value is settled later:
    the default recipe and its training choices (each net's rate is the table's words),
    --eval_num's and --output_size's constants."""
    from dcgan import flag_checks, recipes, settings

    recipe = recipes.RECIPES[recipes.DEFAULT]
    return {**{knob: value for knob, value in recipe.items() if knob not in recipes.NET_RATES},
            "recipe": recipes.DEFAULT, "eval_num": settings.EVAL_NUM,
            "output_size": flag_checks.DEFAULT_OUTPUT_SIZE}


def test_docs_flags_md_names_every_flag_and_its_default():
    from dcgan import cli

    ours = {flag.name: flag for module, flags in cli.FLAGS.flags_by_module_dict().items()
            if module.startswith("dcgan") for flag in flags}
    documented = {name: (cell, written) for name, cell, written in _flag_table_defaults()}
    assert set(documented) <= set(ours), f"docs/flags.md names {set(documented) - set(ours)}"
    assert set(ours) <= set(documented), f"docs/flags.md lacks {set(ours) - set(documented)}"
    elsewhere = _defaults_declared_elsewhere()
    for name, (cell, written) in documented.items():
        default = ours[name].default
        default = elsewhere.get(name) if default is None else default
        if isinstance(default, bool):  # a switch is off unless typed (a mode: no default)
            assert not default and (cell.startswith("off") or cell == ""), (name, cell)
        elif written is None or default is None:
            continue
        elif isinstance(default, (int, float)):
            assert float(written) == default, f"docs/flags.md: --{name} {written}, not {default}"
        else:
            assert written == str(default), f"docs/flags.md: --{name} {written!r}, not {default!r}"
    # The two defaults that differ by case name both of their values.
    from dcgan import data, flag_checks, recipes, settings

    assert documented["output_size"][0] == \
        f"{flag_checks.DEFAULT_OUTPUT_SIZE} (MNIST {data.MNIST_SIZE})"
    assert documented["recipe"][0] == f"`{recipes.DEFAULT}` (`{recipes.DIGITS_DEFAULT}` for MNIST)"
    assert documented["eval_num"][0] == \
        f"0 ({settings.EVAL_NUM} for `--evaluate`, {settings.TRAIN_EVAL_NUM} in training)"


def test_docs_flags_md_recipe_table_matches_the_recipes():
    from dcgan import recipes

    rows = {match[1]: cells[1:] for cells in _flag_tables()
            if (match := re.match(r"`(\w+)`", cells[0])) and match[1] in recipes.RECIPES}
    assert set(rows) == set(recipes.RECIPES), "docs/flags.md's recipe table lacks a recipe"
    for name, recipe in recipes.RECIPES.items():
        rates, half_life, betas, g_steps, ema, real_target, augment, r1, g_kernel = rows[name]
        assert int(g_kernel) == recipes.G_KERNEL[name], name
        decay = recipe["lr_half_life"]
        assert half_life == (str(decay) if decay else "off"), name
        ema_expected = f"{recipe['ema']:g} (step {recipe['ema_start']})" if recipe["ema"] \
            else "off"
        r1_expected = f"{recipe['r1_gamma']:g} ({recipe['r1_every']})" if recipe["r1_gamma"] \
            else "off"
        assert r1 == r1_expected, name
        assert [float(rate) for rate in rates.split(" / ")] == \
            [recipe["d_learning_rate"], recipe["g_learning_rate"]], name
        assert [float(beta) for beta in betas.split(" / ")] == [recipe["beta1"], recipe["beta2"]]
        assert (int(g_steps), ema, float(real_target)) == \
            (recipe["g_steps"], ema_expected, recipe["label_smoothing"]), name
        assert augment == (recipe["augment"].replace(",", ", ") or "none"), name


def _methods(path, class_name):
    import ast

    tree = ast.parse(path.read_text(encoding="utf-8"))
    [found] = [node for node in ast.walk(tree)
               if isinstance(node, ast.ClassDef) and node.name == class_name]
    return {node.name for node in found.body if isinstance(node, ast.FunctionDef)}


def test_the_distributed_trainer_overrides_only_the_trainers_public_hooks():
    base = _methods(REPO / "dcgan" / "train.py", "Trainer")
    overridden = _methods(REPO / "dcgan" / "distribute.py", "DistributedTrainer") & base
    private = {name for name in overridden if name.startswith("_") and name != "__init__"}
    assert not private, f"DistributedTrainer overrides Trainer's private {sorted(private)}"
