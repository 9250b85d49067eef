"""The AWS provider's schema, offline: every resource's and data source's
arguments and nested blocks, read from the jsii manifest of the CDK for
Terraform's AWS provider package (npm, @cdktf/provider-aws), which is
generated from `terraform providers schema -json` of one provider release.

    python infra/tests/provider_schema.py package/.jsii OUT.json

`cargo xtask setup` runs it once (target/provider-schema/); the Terraform
tests check every `aws_*` block's arguments against what it writes.
"""

import json
import re
import sys

PREFIX = "@cdktf/provider-aws."
REPRESENTS = re.compile(
    r"Represents a \{@link https://registry\.terraform\.io/providers/hashicorp/aws/([\d.]+)/docs/"
    r"(resources|data-sources)/\w+ (aws_\w+)\}"
)
ANCHOR = re.compile(r"#(\w+) ")


def snake(name):
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def struct_of(type_ref):
    """The provider struct a property's type names, if any (a nested block)."""
    if "fqn" in type_ref:
        return type_ref["fqn"] if type_ref["fqn"].startswith(PREFIX) else None
    if "union" in type_ref:
        for t in type_ref["union"]["types"]:
            found = struct_of(t)
            if found:
                return found
    if "collection" in type_ref:
        return struct_of(type_ref["collection"]["elementtype"])
    return None


def schema(types, fqn, seen=()):
    out = {}
    for prop in types[fqn].get("properties", []):
        docs = " ".join(prop.get("docs", {}).get(k, "") for k in ("summary", "remarks"))
        anchor = ANCHOR.search(docs)
        name = anchor.group(1) if anchor else snake(prop["name"])
        nested = struct_of(prop["type"])
        block = None
        if nested and types.get(nested, {}).get("kind") == "interface" and nested not in seen:
            block = schema(types, nested, seen + (fqn,))
        out[name] = {"required": not prop.get("optional", False), "block": block}
    return out


def main(jsii_path, out_path):
    with open(jsii_path) as f:
        types = json.load(f)["types"]
    found = {"resource": {}, "data": {}}
    version = None
    for fqn, t in types.items():
        if t.get("kind") != "class":
            continue
        m = REPRESENTS.search(t.get("docs", {}).get("summary", ""))
        config = fqn + "Config"
        if not m or config not in types:
            continue
        version = m.group(1)
        kind = "resource" if m.group(2) == "resources" else "data"
        found[kind][m.group(3)] = schema(types, config)
    if version is None or len(found["resource"]) < 500:
        sys.exit(f"{jsii_path}: not the AWS provider's manifest ({len(found['resource'])} resources found)")
    with open(out_path, "w") as f:
        json.dump({"provider": "hashicorp/aws", "version": version, **found}, f, separators=(",", ":"))
    print(f"{out_path}: hashicorp/aws {version}, {len(found['resource'])} resources, {len(found['data'])} data sources")


if __name__ == "__main__":
    main(*sys.argv[1:3])
