import pytest

from pysteps.engine.errors import ExportError, UsageError
from pysteps.engine.exports import Export

IMAGE = {
    "id": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/images/img",
    "name": "img",
    "storageProfile": {"osDisk": {"osState": "Generalized"}, "dataDisks": [{"lun": 0, "diskSizeGb": 10}]},
    "tags": {"a/b": "slash", "m~n": "tilde"},
    "zones": None,
    "ready": True,
}


def test_jmespath_field_is_exported_as_is():
    assert Export.parse("id|vmss_image").extract(IMAGE, "image-create") == IMAGE["id"]


def test_expression_may_itself_contain_a_pipe():
    export = Export.parse("storageProfile.dataDisks[].lun | [0]|first_lun")
    assert (export.expr, export.name) == ("storageProfile.dataDisks[].lun | [0]", "first_lun")
    assert export.extract(IMAGE, "s") == "0"


def test_objects_lists_and_booleans_become_compact_json():
    assert Export.parse("storageProfile.osDisk|X").extract(IMAGE, "s") == '{"osState":"Generalized"}'
    assert Export.parse("storageProfile.dataDisks[].lun|X").extract(IMAGE, "s") == "[0]"
    assert Export.parse("ready|X").extract(IMAGE, "s") == "true"


def test_json_pointer_as_in_the_old_plugin():
    assert Export.parse("/id|vmss_image").extract(IMAGE, "s") == IMAGE["id"]
    assert Export.parse("/storageProfile/dataDisks/0/diskSizeGb|SIZE").extract(IMAGE, "s") == "10"
    assert Export.parse("/tags/a~1b|T").extract(IMAGE, "s") == "slash"
    assert Export.parse("/tags/m~0n|T").extract(IMAGE, "s") == "tilde"


def test_missing_field_fails_naming_expression_and_keys_present():
    with pytest.raises(ExportError) as caught:
        Export.parse("imageId|vmss_image").extract(IMAGE, "image-create")
    message = str(caught.value)
    assert "image-create" in message and "'imageId'" in message
    assert "keys there: id, name, ready, storageProfile, tags, zones" in message


def test_null_field_is_missing_too():
    with pytest.raises(ExportError, match="'zones'"):
        Export.parse("zones|Z").extract(IMAGE, "s")
    with pytest.raises(ExportError, match="no output"):
        Export.parse("/id|X").extract(None, "s")


def test_optional_export_yields_nothing_when_missing():
    export = Export.parse("publicIpAddress|public_ip?")
    assert export.optional and export.name == "public_ip"
    assert export.extract(IMAGE, "s") is None


def test_list_output_is_described():
    with pytest.raises(ExportError, match="a list of 2 item"):
        Export.parse("id|X").extract([{}, {}], "s")


@pytest.mark.parametrize("spec, fragment", [
    ("vmss_image", "expected EXPR|ENV_NAME"),
    ("|vmss_image", "expected EXPR|ENV_NAME"),
    ("id|1image", "invalid variable name '1image'"),
    ("id|vmss-image", "invalid variable name 'vmss-image'"),
    ("id|", "invalid variable name ''"),
    ("a..b|X", "malformed export expression 'a..b'"),
    ("/a/~2|X", "malformed JSON Pointer"),
])
def test_malformed_specs_are_usage_errors(spec, fragment):
    with pytest.raises(UsageError) as caught:
        Export.parse(spec)
    assert fragment in str(caught.value)
    assert "\n" not in str(caught.value)


def test_placeholder_names_step_and_expression():
    assert Export.parse("id|vmss_image").placeholder("image-create") == "<image-create:id>"
