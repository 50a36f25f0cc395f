"""Oracle: lxml's exclusive c14n of the root element of each DIR/*.xml.

Each case may have DIR/NAME.opts: one line, "comments" and/or "prefixes=a,b". The output goes
to DIR/NAME.lxml. Run by crates/tessera-xml/tests/xml.rs.
"""
import pathlib
import sys

from lxml import etree


def main(directory: str) -> None:
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)
    for path in sorted(pathlib.Path(directory).glob("*.xml")):
        opts_path = path.with_suffix(".opts")
        opts = opts_path.read_text().split() if opts_path.exists() else []
        with_comments = "comments" in opts
        prefixes = next((o.split("=", 1)[1].split(",") for o in opts if o.startswith("prefixes=")), None)
        root = etree.fromstring(path.read_bytes(), parser)
        out = etree.tostring(
            root,
            method="c14n",
            exclusive=True,
            with_comments=with_comments,
            inclusive_ns_prefixes=prefixes,
        )
        path.with_suffix(".lxml").write_bytes(out)


if __name__ == "__main__":
    main(sys.argv[1])
