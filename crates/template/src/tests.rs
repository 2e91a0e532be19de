//! End-to-end tests of the public API.

use super::*;
use serde_json::{json, Value};

fn inspect() -> Value {
    json!({
        "Id": "sha256:6fd955f66c231c1a946653170d096a1ac5cc5b9d1baf29ae8b7ba4b4c12ea7e4",
        "Name": "/web",
        "RepoTags": ["busybox:latest", "busybox:1.36"],
        "Config": {
            "User": "",
            "Env": ["PATH=/usr/bin", "TERM=xterm"],
            "Cmd": ["sh", "-c", "echo hi"],
            "Labels": {"a.b": "c", "maintainer": "me"},
            "ExposedPorts": null
        },
        "State": {
            "Status": "running",
            "Running": true,
            "Paused": false,
            "ExitCode": 0,
            "Pid": 4242,
            "Health": null
        },
        "Size": 4261550,
        "Ratio": 0.25,
        "NetworkSettings": {
            "Networks": {
                "bridge": {"IPAddress": "172.17.0.2"},
                "app": {"IPAddress": "10.0.0.5"}
            },
            "Ports": {"80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8080"}]}
        },
        "Repository": "busybox",
        "Tag": "latest",
        "Mounts": []
    })
}

#[track_caller]
fn render(src: &str, data: &Value) -> String {
    let t = Template::parse(src).unwrap_or_else(|e| panic!("parse {src:?}: {e}"));
    t.render(data)
        .unwrap_or_else(|e| panic!("render {src:?}: {e}"))
}

#[track_caller]
fn r(src: &str) -> String {
    render(src, &inspect())
}

#[track_caller]
fn exec_err(src: &str) -> String {
    Template::parse(src)
        .unwrap_or_else(|e| panic!("parse {src:?}: {e}"))
        .render(&inspect())
        .expect_err("render should fail")
        .to_string()
}

#[track_caller]
fn parse_err(src: &str) -> String {
    Template::parse(src)
        .expect_err("parse should fail")
        .to_string()
}

// ---------------------------------------------------------------- basics

#[test]
fn plain_text() {
    assert_eq!(r(""), "");
    assert_eq!(r("hello world\n"), "hello world\n");
    assert_eq!(r("a } b { c"), "a } b { c");
}

#[test]
fn dot() {
    assert_eq!(render("{{.}}", &json!("x")), "x");
    assert_eq!(render("{{.}}", &json!(12)), "12");
    assert_eq!(render("{{.}}", &json!(null)), "<nil>");
    assert_eq!(render("{{.}}", &json!({"b": 1, "a": "x"})), "map[a:x b:1]");
    assert_eq!(render("{{.}}", &json!(["a", "b", "c"])), "[a b c]");
    assert_eq!(render("{{ . }}", &json!(true)), "true");
}

#[test]
fn field_chains() {
    assert_eq!(r("{{.Name}}"), "/web");
    assert_eq!(r("{{.State.Status}}"), "running");
    assert_eq!(
        r("{{.NetworkSettings.Networks.bridge.IPAddress}}"),
        "172.17.0.2"
    );
    assert_eq!(r("{{.Config.Labels}}"), "map[a.b:c maintainer:me]");
    assert_eq!(r("{{.Config.Env}}"), "[PATH=/usr/bin TERM=xterm]");
    assert_eq!(
        r("{{.Size}} {{.Ratio}} {{.State.Running}}"),
        "4261550 0.25 true"
    );
    assert_eq!(r("{{.Config.ExposedPorts}}"), "<nil>");
    assert_eq!(r("{{.Mounts}}"), "[]");
}

#[test]
fn missing_keys_print_no_value() {
    assert_eq!(r("{{.Nope}}"), "<no value>");
    assert_eq!(r("{{.Nope.Deeper.Still}}"), "<no value>");
    assert_eq!(r("{{.State.Nope}}"), "<no value>");
    assert_eq!(r("{{if .Nope}}yes{{else}}no{{end}}"), "no");
    assert_eq!(r("{{printf \"%v\" .Nope}}"), "<nil>");
    assert_eq!(r("{{json .Nope}}"), "null");
}

#[test]
fn trim_markers() {
    assert_eq!(r("a  {{- .Tag -}}  b"), "alatestb");
    assert_eq!(r("a \n\t{{- .Tag}} b"), "alatest b");
    assert_eq!(r("a {{.Tag -}} \n b"), "a latestb");
    assert_eq!(
        r("{{range .RepoTags -}}\n  {{.}}\n{{- end}}"),
        "busybox:latestbusybox:1.36"
    );
    // `{{-3}}` is a number, not a trim marker.
    assert_eq!(r("x {{-3}}"), "x -3");
    assert_eq!(r("a {{/* comment */}} b"), "a  b");
    assert_eq!(r("a {{- /* comment */ -}} b"), "ab");
}

#[test]
fn literals() {
    assert_eq!(r(r#"{{"str\t\"q\""}}"#), "str\t\"q\"");
    assert_eq!(r("{{`raw\\n`}}"), "raw\\n");
    assert_eq!(
        r("{{42}} {{-7}} {{1.5}} {{1e3}} {{0x1F}} {{'a'}}"),
        "42 -7 1.5 1000 31 97"
    );
    assert_eq!(r("{{true}} {{false}}"), "true false");
}

#[test]
fn pipelines() {
    assert_eq!(r(r#"{{.Name | printf "%s!"}}"#), "/web!");
    assert_eq!(r(r#"{{join .Config.Cmd " "}}"#), "sh -c echo hi");
    assert_eq!(r(r#"{{" " | join .Config.Cmd}}"#), "sh -c echo hi");
    assert_eq!(r(r#"{{"ABC" | lower | printf "<%s>"}}"#), "<abc>");
    assert_eq!(r("{{.Config.Labels | len}}"), "2");
    assert_eq!(r("{{.State | json}}").len(), r("{{json .State}}").len());
}

#[test]
fn parenthesised_expressions() {
    assert_eq!(r("{{(index .RepoTags 1)}}"), "busybox:1.36");
    assert_eq!(r(r#"{{len (split .Id ":")}}"#), "2");
    assert_eq!(
        r(r#"{{(index (index .NetworkSettings.Ports "80/tcp") 0).HostPort}}"#),
        "8080"
    );
    assert_eq!(r("{{(.State).Pid}}"), "4242");
    assert_eq!(
        r(r#"{{printf "%s-%s" (upper .Tag) (lower "X")}}"#),
        "LATEST-x"
    );
}

#[test]
fn variables() {
    assert_eq!(r("{{$n := .Name}}name={{$n}}"), "name=/web");
    assert_eq!(r("{{$x := 1}}{{$x = 2}}{{$x}}"), "2");
    assert_eq!(r("{{$s := .State}}{{$s.Status}}"), "running");
    assert_eq!(
        r("{{range $i, $e := .RepoTags}}{{$i}}={{$e}} {{end}}"),
        "0=busybox:latest 1=busybox:1.36 "
    );
    assert_eq!(
        r("{{range $e := .RepoTags}}{{$e}};{{end}}"),
        "busybox:latest;busybox:1.36;"
    );
    assert_eq!(r("{{range .RepoTags}}{{$.Name}} {{end}}"), "/web /web ");
    assert_eq!(r("{{with .State}}{{$.Tag}}:{{.Pid}}{{end}}"), "latest:4242");
    // Assignment inside a range updates the outer variable.
    assert_eq!(
        r("{{$last := \"\"}}{{range .RepoTags}}{{$last = .}}{{end}}{{$last}}"),
        "busybox:1.36"
    );
    // Shadowing inside a block does not leak out.
    assert_eq!(
        r("{{$x := 1}}{{if true}}{{$x := 2}}{{$x}}{{end}}{{$x}}"),
        "21"
    );
    assert_eq!(r("{{if $p := .State.Pid}}pid {{$p}}{{end}}"), "pid 4242");
}

#[test]
fn if_else_chains() {
    let t = "{{if eq .State.Status \"exited\"}}E{{else if .State.Running}}R{{else}}?{{end}}";
    assert_eq!(r(t), "R");
    assert_eq!(
        r("{{if .State.Paused}}p{{else}}not paused{{end}}"),
        "not paused"
    );
    assert_eq!(r("{{if .State.Running}}up{{end}}"), "up");
    assert_eq!(
        r("{{if .State.ExitCode}}x{{else if false}}y{{else if 1}}z{{end}}"),
        "z"
    );
}

#[test]
fn truthiness() {
    let cases = [
        (json!(false), "F"),
        (json!(true), "T"),
        (json!(0), "F"),
        (json!(0.0), "F"),
        (json!(2), "T"),
        (json!(-0.5), "T"),
        (json!(""), "F"),
        (json!("x"), "T"),
        (json!([]), "F"),
        (json!([0]), "T"),
        (json!({}), "F"),
        (json!({"a": 1}), "T"),
        (json!(null), "F"),
    ];
    for (v, want) in cases {
        assert_eq!(render("{{if .}}T{{else}}F{{end}}", &v), want, "value {v}");
    }
    assert_eq!(render("{{if .X}}T{{else}}F{{end}}", &json!({})), "F");
}

#[test]
fn range_forms() {
    assert_eq!(
        r("{{range .RepoTags}}{{.}} {{end}}"),
        "busybox:latest busybox:1.36 "
    );
    // Objects iterate in sorted key order.
    assert_eq!(
        r("{{range $k, $v := .NetworkSettings.Networks}}{{$k}}={{$v.IPAddress}};{{end}}"),
        "app=10.0.0.5;bridge=172.17.0.2;"
    );
    assert_eq!(
        r("{{range .NetworkSettings.Networks}}{{println .IPAddress}}{{end}}"),
        "10.0.0.5\n172.17.0.2\n"
    );
    assert_eq!(r("{{range .Mounts}}m{{else}}no mounts{{end}}"), "no mounts");
    assert_eq!(
        r("{{range .Config.ExposedPorts}}p{{else}}none{{end}}"),
        "none"
    );
    assert_eq!(r("{{range .Missing}}p{{else}}none{{end}}"), "none");
    assert_eq!(r("{{range 3}}{{.}}{{end}}"), "012");
    assert_eq!(r("{{range $i := 2}}[{{$i}}]{{end}}"), "[0][1]");
    assert_eq!(
        r("{{range .Config.Env}}{{if eq . \"TERM=xterm\"}}{{break}}{{end}}{{.}};{{end}}"),
        "PATH=/usr/bin;"
    );
    assert_eq!(
        r("{{range .Config.Cmd}}{{if eq . \"-c\"}}{{continue}}{{end}}{{.}};{{end}}"),
        "sh;echo hi;"
    );
    // Ranging over a computed (owned) value.
    assert_eq!(r(r#"{{range split "a,b" ","}}<{{.}}>{{end}}"#), "<a><b>");
    assert_eq!(
        r("{{range $k, $v := .Config.Labels}}{{$k}}={{$v}},{{end}}"),
        "a.b=c,maintainer=me,"
    );
}

#[test]
fn with_blocks() {
    assert_eq!(r("{{with .State}}{{.Status}}{{end}}"), "running");
    assert_eq!(r("{{with .Config.User}}{{.}}{{else}}root{{end}}"), "root");
    assert_eq!(r("{{with .Nope}}x{{else with .Tag}}{{.}}{{end}}"), "latest");
    assert_eq!(r("{{with $s := .State.Status}}{{$s}}{{end}}"), "running");
}

#[test]
fn comparisons() {
    assert_eq!(
        r(r#"{{eq .Tag "latest"}} {{ne .Tag "latest"}}"#),
        "true false"
    );
    assert_eq!(r(r#"{{eq .Tag "a" "b" "latest"}}"#), "true");
    assert_eq!(
        r("{{eq .State.ExitCode 0}} {{eq 0.0 .State.ExitCode}}"),
        "true true"
    );
    assert_eq!(
        r("{{lt 1 2}} {{le 2 2}} {{gt 1 2}} {{ge 2 3}}"),
        "true true false false"
    );
    assert_eq!(r("{{lt 1.5 2}} {{gt .Size 1000000}}"), "true true");
    assert_eq!(r(r#"{{lt "a" "b"}} {{ge "b" "a"}}"#), "true true");
    assert_eq!(
        r("{{eq .Nope nil}} {{eq .Config.ExposedPorts nil}} {{eq .Tag nil}}"),
        "true true false"
    );
    assert_eq!(r("{{eq true true}} {{ne false true}}"), "true true");
}

#[test]
fn logic() {
    assert_eq!(
        r("{{and 1 0}} {{and 1 2}} {{or 0 \"\"}} {{or 0 3}}"),
        "0 2  3"
    );
    assert_eq!(r(r#"{{or .Config.User "root"}}"#), "root");
    assert_eq!(r(r#"{{or .Nope "default"}}"#), "default");
    assert_eq!(r("{{not .State.Running}} {{not 0}}"), "false true");
    assert_eq!(
        r("{{if and .State.Running (not .State.Paused)}}ok{{end}}"),
        "ok"
    );
    // Short-circuit: the failing index is never evaluated.
    assert_eq!(r("{{and false (index .RepoTags 10)}}"), "false");
    assert_eq!(r("{{or true (index .RepoTags 10)}}"), "true");
    // A piped-in value is the last operand.
    assert_eq!(r("{{.Tag | and 1}}"), "latest");
}

#[test]
fn len_and_index() {
    assert_eq!(
        r("{{len .RepoTags}} {{len .Tag}} {{len .Config.Labels}}"),
        "2 6 2"
    );
    assert_eq!(r("{{len .Config.ExposedPorts}} {{len .Mounts}}"), "0 0");
    assert_eq!(r("{{index .RepoTags 0}}"), "busybox:latest");
    assert_eq!(r(r#"{{index .Config.Labels "a.b"}}"#), "c");
    assert_eq!(r(r#"{{index .Config.Labels "missing"}}"#), "<no value>");
    assert_eq!(
        r(r#"{{index .NetworkSettings.Ports "80/tcp" 0 "HostPort"}}"#),
        "8080"
    );
    assert_eq!(r("{{index .Tag 0}}"), "108");
    assert_eq!(r("{{index .RepoTags}}"), "[busybox:latest busybox:1.36]");
    assert_eq!(
        r(r#"{{index .Config.ExposedPorts "80/tcp"}}"#),
        "<no value>"
    );
    assert_eq!(
        r("{{slice .Tag 1 3}} {{slice .RepoTags 1}}"),
        "at [busybox:1.36]"
    );
}

#[test]
fn printf_forms() {
    assert_eq!(
        r(r#"{{printf "%s|%d|%v|%q|%t" .Tag .Size .RepoTags .Tag true}}"#),
        r#"latest|4261550|[busybox:latest busybox:1.36]|"latest"|true"#
    );
    assert_eq!(r(r#"{{printf "%x" .State.Pid}}"#), "1092");
    assert_eq!(
        r(r#"{{printf "[%-10s][%10s]" .Tag .Tag}}"#),
        "[latest    ][    latest]"
    );
    assert_eq!(r(r#"{{printf "%.2f%%" .Ratio}}"#), "0.25%");
    assert_eq!(r(r#"{{printf "%d" .Tag}}"#), "%!d(string=latest)");
    assert_eq!(r(r#"{{printf "%s"}}"#), "%!s(MISSING)");
    assert_eq!(
        r(r#"{{printf "%v" .Config.Labels}}"#),
        "map[a.b:c maintainer:me]"
    );
}

#[test]
fn print_and_println() {
    assert_eq!(r("{{print .Tag .Size}}"), "latest4261550");
    assert_eq!(r("{{print 1 2}}"), "1 2");
    assert_eq!(r("{{println .Tag .Size}}"), "latest 4261550\n");
    assert_eq!(r("{{println}}"), "\n");
}

#[test]
fn docker_functions() {
    assert_eq!(
        r("{{json .Config.Labels}}"),
        r#"{"a.b":"c","maintainer":"me"}"#
    );
    assert_eq!(
        r("{{json .RepoTags}}"),
        r#"["busybox:latest","busybox:1.36"]"#
    );
    assert_eq!(
        r("{{json .Tag}} {{json .Size}} {{json .Ratio}}"),
        r#""latest" 4261550 0.25"#
    );
    assert_eq!(render("{{json .}}", &json!({"h": "<&>"})), r#"{"h":"<&>"}"#);
    assert_eq!(r(r#"{{join .Config.Env ","}}"#), "PATH=/usr/bin,TERM=xterm");
    assert_eq!(r(r#"{{join .Config.ExposedPorts ","}}"#), "");
    assert_eq!(r(r#"{{split .Id ":"}}"#).len(), "[sha256 ]".len() + 64);
    assert_eq!(r(r#"{{index (split .Id ":") 0}}"#), "sha256");
    assert_eq!(r(r#"{{split "abc" ""}}"#), "[a b c]");
    assert_eq!(r(r#"{{lower "HeLLo"}} {{upper .Tag}}"#), "hello LATEST");
    assert_eq!(r(r#"{{title "hello docker world"}}"#), "Hello Docker World");
    assert_eq!(r("{{truncate .Id 12}}"), "sha256:6fd95");
    assert_eq!(r("{{truncate .Tag 100}}"), "latest");
    assert_eq!(r(r#"{{pad .Tag 2 3}}|{{pad "" 2 3}}|"#), "  latest   ||");
    assert_eq!(r("{{.Tag | upper | printf \"%s\"}}"), "LATEST");
}

#[test]
fn docker_inspect_formats() {
    assert_eq!(
        r("{{.Id}}"),
        "sha256:6fd955f66c231c1a946653170d096a1ac5cc5b9d1baf29ae8b7ba4b4c12ea7e4"
    );
    assert_eq!(
        r("{{json .Config}}"),
        r#"{"User":"","Env":["PATH=/usr/bin","TERM=xterm"],"Cmd":["sh","-c","echo hi"],"Labels":{"a.b":"c","maintainer":"me"},"ExposedPorts":null}"#
    );
    assert_eq!(r(r#"{{index .Config.Labels "a.b"}}"#), "c");
    assert_eq!(
        r("{{range .RepoTags}}{{.}} {{end}}"),
        "busybox:latest busybox:1.36 "
    );
    assert_eq!(r("{{if .State.Running}}up{{else}}down{{end}}"), "up");
    assert_eq!(r("{{.Repository}}:{{.Tag}}"), "busybox:latest");
    assert_eq!(
        r("{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}"),
        "10.0.0.5172.17.0.2"
    );
    assert_eq!(
        r("{{range $p, $conf := .NetworkSettings.Ports}}{{$p}} -> {{(index $conf 0).HostPort}}{{end}}"),
        "80/tcp -> 8080"
    );
    assert_eq!(r("{{.State.Pid}}"), "4242");
    assert_eq!(r("{{json .}}").chars().next(), Some('{'));
}

// ---------------------------------------------------------------- errors

#[test]
fn parse_errors() {
    assert_eq!(
        parse_err("{{foo .X}}"),
        r#"template: :1: function "foo" not defined"#
    );
    assert_eq!(parse_err("{{.Name"), "template: :1: unclosed action");
    assert_eq!(
        parse_err("{{.Name}"),
        "template: :1: bad character U+007D '}'"
    );
    assert_eq!(parse_err("a\nb\n{{if .X}}"), "template: :3: unexpected EOF");
    assert_eq!(parse_err("{{end}}"), "template: :1: unexpected {{end}}");
    assert_eq!(
        parse_err(r#"{{"abc}}"#),
        "template: :1: unterminated quoted string"
    );
    assert_eq!(
        parse_err("{{$x}}"),
        r#"template: :1: undefined variable "$x""#
    );
    assert_eq!(
        parse_err("{{.X | }}{{3x}}"),
        "template: :1: bad number syntax: \"3x\""
    );
}

#[test]
fn field_access_on_a_string() {
    assert_eq!(
        exec_err("{{.Name.First}}"),
        r#"template: :1:7: executing "" at <.Name.First>: can't evaluate field First in type string"#
    );
    assert_eq!(
        exec_err("{{range .RepoTags}}{{.Foo}}{{end}}"),
        r#"template: :1:21: executing "" at <.Foo>: can't evaluate field Foo in type string"#
    );
    assert_eq!(
        exec_err("x\n  {{.Size.X}}"),
        r#"template: :2:9: executing "" at <.Size.X>: can't evaluate field X in type int"#
    );
}

#[test]
fn execution_errors() {
    // The piped value is the last argument: `join SEP LIST` is a type error.
    assert_eq!(
        exec_err(r#"{{.Config.Cmd | join " "}}"#),
        r#"template: :1:16: executing "" at <join " ">: wrong type for value; expected []string; got string"#
    );
    assert_eq!(
        exec_err("{{.State.Health.Status}}"),
        r#"template: :1:8: executing "" at <.State.Health.Status>: nil pointer evaluating interface {}.Status"#
    );
    assert_eq!(
        exec_err("{{index .RepoTags 5}}"),
        r#"template: :1:2: executing "" at <index .RepoTags 5>: error calling index: index out of range: 5"#
    );
    assert_eq!(
        exec_err("{{index .Config.Labels 1}}"),
        r#"template: :1:2: executing "" at <index .Config.Labels...>: error calling index: value has type int; should be string"#
    );
    assert_eq!(
        exec_err("{{len .Size}}"),
        r#"template: :1:2: executing "" at <len .Size>: error calling len: len of type int"#
    );
    assert_eq!(
        exec_err(r#"{{eq .Tag 1}}"#),
        r#"template: :1:2: executing "" at <eq .Tag 1>: error calling eq: incompatible types for comparison"#
    );
    assert_eq!(
        exec_err("{{lt .RepoTags 1}}"),
        r#"template: :1:2: executing "" at <lt .RepoTags 1>: error calling lt: invalid type for comparison"#
    );
    assert_eq!(
        exec_err("{{truncate .Tag}}"),
        r#"template: :1:2: executing "" at <truncate>: wrong number of args for truncate: want 2 got 1"#
    );
    assert_eq!(
        exec_err("{{index}}"),
        r#"template: :1:2: executing "" at <index>: wrong number of args for index: want at least 1 got 0"#
    );
    assert_eq!(
        exec_err("{{upper .Size}}"),
        r#"template: :1:2: executing "" at <upper .Size>: wrong type for value; expected string; got int"#
    );
    assert_eq!(
        exec_err("{{range .Tag}}{{end}}"),
        r#"template: :1:8: executing "" at <{{range .Tag}}{{end}...>: range can't iterate over latest"#
    );
    assert_eq!(
        exec_err("{{.Tag 1}}"),
        r#"template: :1:2: executing "" at <.Tag>: Tag is not a method but has arguments"#
    );
    assert_eq!(
        exec_err("{{1 2}}"),
        r#"template: :1:2: executing "" at <1>: can't give argument to non-function 1"#
    );
    assert_eq!(
        exec_err("{{nil}}"),
        r#"template: :1:2: executing "" at <nil>: nil is not a command"#
    );
}

#[test]
fn errors_are_typed() {
    match Template::parse("{{bogus}}") {
        Err(TemplateError::Parse { line, message }) => {
            assert_eq!(line, 1);
            assert_eq!(message, r#"function "bogus" not defined"#);
        }
        other => panic!("unexpected {other:?}"),
    }
    let t = Template::parse("\n {{.Name.X}}").unwrap();
    match t.render(&inspect()) {
        Err(TemplateError::Exec {
            line,
            column,
            context,
            message,
        }) => {
            assert_eq!((line, column), (2, 8));
            assert_eq!(context, ".Name.X");
            assert_eq!(message, "can't evaluate field X in type string");
        }
        other => panic!("unexpected {other:?}"),
    }
}

// ---------------------------------------------------- CLI-side helpers

#[test]
fn unescape() {
    assert_eq!(unescape_format(r"{{.A}}\t{{.B}}\n"), "{{.A}}\t{{.B}}\n");
    assert_eq!(unescape_format(r"a\\tb"), "a\\\tb");
    assert_eq!(unescape_format(r"\x \"), r"\x \");
    assert_eq!(unescape_format("plain"), "plain");
}

#[test]
fn table_formats() {
    assert_eq!(
        table_body("table {{.ID}}\t{{.Name}}"),
        Some("{{.ID}}\t{{.Name}}")
    );
    assert_eq!(table_body("table   {{.ID}}"), Some("{{.ID}}"));
    assert_eq!(table_body("table"), Some(""));
    assert_eq!(table_body("{{.ID}}"), None);
    assert_eq!(table_body("json"), None);
}

#[test]
fn docker_images_table_end_to_end() {
    let format =
        unescape_format(r"table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}");
    let body = table_body(&format).expect("table format");
    let t = Template::parse(body).unwrap();
    let header = json!({"Repository": "REPOSITORY", "Tag": "TAG", "ID": "IMAGE ID",
                        "CreatedSince": "CREATED", "Size": "SIZE"});
    let rows = [
        json!({"Repository": "busybox", "Tag": "latest", "ID": "6fd955f66c23",
               "CreatedSince": "2 weeks ago", "Size": "4.26MB"}),
        json!({"Repository": "alpine", "Tag": "3.19", "ID": "05455a08881e",
               "CreatedSince": "3 months ago", "Size": "7.38MB"}),
    ];
    let mut text = t.render(&header).unwrap() + "\n";
    for row in &rows {
        text += &(t.render(row).unwrap() + "\n");
    }
    assert_eq!(
        align_tabs(&text),
        "REPOSITORY   TAG       IMAGE ID       CREATED        SIZE\n\
         busybox      latest    6fd955f66c23   2 weeks ago    4.26MB\n\
         alpine       3.19      05455a08881e   3 months ago   7.38MB\n"
    );
    // With only the busybox row, CREATED is max(11, 7) + 3 = 14 wide.
    let text = t.render(&header).unwrap() + "\n" + &t.render(&rows[0]).unwrap() + "\n";
    assert_eq!(
        align_tabs(&text),
        "REPOSITORY   TAG       IMAGE ID       CREATED       SIZE\n\
         busybox      latest    6fd955f66c23   2 weeks ago   4.26MB\n"
    );
}

#[test]
fn template_is_reusable_and_cloneable() {
    let t = Template::parse("{{.}}").unwrap();
    let t2 = t.clone();
    assert_eq!(t.render(&json!(1)).unwrap(), "1");
    assert_eq!(t2.render(&json!("x")).unwrap(), "x");
    assert_eq!(t.source(), "{{.}}");
}

/// Random token soup must produce Ok or Err, never a panic.
#[test]
fn random_input_never_panics() {
    const PIECES: &[&str] = &[
        "{{",
        "}}",
        "{{- ",
        " -}}",
        ".",
        ".A",
        ".B",
        "$",
        "$x",
        " := ",
        " = ",
        "|",
        "(",
        ")",
        " ",
        "\n",
        "if ",
        "else ",
        "end",
        "range ",
        "with ",
        "break",
        "continue",
        "index ",
        "len ",
        "printf ",
        "\"%s %d\"",
        "\"s\"",
        "`r`",
        "'c'",
        "1",
        "-2",
        "1.5",
        "0x",
        "nil",
        "true",
        "eq ",
        "and ",
        "or ",
        "json ",
        "slice ",
        "split ",
        ",",
        "/*",
        "*/",
        "é",
        "#",
        "\"",
        "\\",
        "$.A",
        ".A.B.C",
        "truncate ",
        "pad ",
        "join ",
    ];
    let data = json!({"A": {"B": [1, "two", null], "C": "s"}, "B": [], "x": 3.5});
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for _ in 0..20_000 {
        let n = (next() % 12) as usize;
        let src: String = (0..n)
            .map(|_| PIECES[(next() % PIECES.len() as u64) as usize])
            .collect();
        if let Ok(t) = Template::parse(&src) {
            let _ = t.render(&data);
        }
        let _ = align_tabs(&src.replace(' ', "\t"));
    }
}
