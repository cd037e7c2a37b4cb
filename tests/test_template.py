import pytest

from pysteps.engine import template
from pysteps.engine.errors import UsageError


def test_renders_names_and_keeps_other_dollars():
    lookup = {"rg": "my-rg", "n": "1"}
    assert template.render("-g=${rg}/${n}", lookup) == "-g=my-rg/1"
    assert template.render("cost $5 and $HOME", lookup) == "cost $5 and $HOME"
    assert template.render("$${rg}", lookup) == "${rg}"


def test_substituted_values_are_never_expanded_again():
    assert template.render("${a}", {"a": "${b}", "b": "no"}) == "${b}"
    assert template.render("${a}", {"a": "$(id) `x` '; rm -rf / #"}) == "$(id) `x` '; rm -rf / #"


def test_unknown_name_is_an_error_not_an_empty_string():
    with pytest.raises(UsageError, match=r"unknown variable \$\{vmss_image\}"):
        template.render("--image=${vmss_image}", {})


@pytest.mark.parametrize("text", ["${}", "${bad-name}", "${unclosed", "${1x}"])
def test_malformed_references(text):
    with pytest.raises(UsageError, match="malformed variable reference"):
        template.references(text)


def test_references_in_order():
    assert template.references("${a}-${b}-$${c}-${a}") == ["a", "b", "a"]
