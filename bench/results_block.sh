# Sourced by the bench scripts: replace_results_block NAME FILE puts FILE's text between the
# lines <!-- NAME:begin --> and <!-- NAME:end --> of docs/benchmarks.md.
replace_results_block() {
    node -e '
        const fs = require("fs");
        const [doc, name, results] = process.argv.slice(1);
        const text = fs.readFileSync(doc, "utf8");
        const begin = `<!-- ${name}:begin -->`, end = `<!-- ${name}:end -->`;
        const i = text.indexOf(begin), j = text.indexOf(end);
        if (i < 0 || j < i) { console.error(`${doc}: no ${name} markers`); process.exit(1); }
        fs.writeFileSync(doc, text.slice(0, i + begin.length) + "\n" + fs.readFileSync(results, "utf8").trim() + "\n" + text.slice(j));
    ' docs/benchmarks.md "$1" "$2"
}
