use super::*;
use serde_json::json;

/// Every opt-in preventive rule on: the safety net, the viewport meta, the grid overrides.
fn preventive() -> HealOptions {
    HealOptions {
        safety_net: true,
        viewport: true,
        grid: true,
        ..HealOptions::default()
    }
}

fn heal(html: &str) -> HealedHtml {
    heal_html(html, &preventive()).unwrap()
}

fn with_findings(findings: Value) -> HealOptions {
    HealOptions::from_json(json!({ "findings": findings })).unwrap()
}

fn rules_of(fixes: &[Fix]) -> Vec<&str> {
    fixes.iter().map(|f| f.rule.as_str()).collect()
}

const PAGE: &str =
    "<!doctype html><html><head><title>t</title></head><body><p>hi</p></body></html>";

#[test]
fn safety_net_is_zero_specificity_and_at_the_end_of_the_body() {
    let h = heal(PAGE);
    let at = h.html.find("<style data-trinity-heal>").unwrap();
    assert!(h.html[at..].contains("</style></body>"));
    for sel in [
        ":where(img,video,canvas){max-width:100vw}",
        ":where(p,li,dd,dt,td,th,figcaption,blockquote){overflow-wrap:break-word}",
        ":where(pre){max-width:100%;overflow-x:auto}",
    ] {
        assert!(h.html.contains(sel), "{sel}");
    }
    let rules = rules_of(&h.fixes);
    for r in [
        "media-max-width",
        "embed-max-width",
        "text-overflow-wrap",
        "pre-scroll",
        "viewport-meta",
    ] {
        assert!(rules.contains(&r), "{r}: {rules:?}");
    }
}

#[test]
fn viewport_meta_added_only_where_missing() {
    let h = heal(PAGE);
    assert!(h.html.contains(
        r#"<meta name="viewport" content="width=device-width, initial-scale=1"></head>"#
    ));
    let with = r#"<html><head><META NAME="Viewport" content="width=device-width"></head><body></body></html>"#;
    let h = heal(with);
    assert!(!h.html.contains("initial-scale=1"));
    assert!(!rules_of(&h.fixes).contains(&"viewport-meta"));
    // No <head>: before <body>, where the parser still puts it into the head.
    let h = heal("<!doctype html><body><p>x</p></body>");
    assert!(h.html.starts_with("<!doctype html><meta name=\"viewport\""));
    // A bare fragment: after the doctype if any, else first.
    let h = heal("<p>just a fragment</p>");
    assert!(h.html.starts_with("<meta name=\"viewport\""));
    assert!(h.html.ends_with("</style>"));
    let opts = HealOptions::from_json(json!({"safety_net": true})).unwrap();
    assert!(!heal_html(PAGE, &opts).unwrap().html.contains("viewport"));
}

#[test]
fn grid_fr_tracks_get_a_zero_minimum() {
    assert_eq!(
        css::minmax_fr("1fr 300px 2fr").unwrap(),
        "minmax(0,1fr) 300px minmax(0,2fr)"
    );
    assert_eq!(
        css::minmax_fr("repeat(3, 1fr)").unwrap(),
        "repeat(3, minmax(0,1fr))"
    );
    assert_eq!(
        css::minmax_fr("repeat(auto-fill, minmax(200px, 1fr))"),
        None
    );
    assert_eq!(css::minmax_fr("minmax(0, 1fr) fit-content(2fr)"), None);
    assert_eq!(
        css::minmax_fr("[a1] 1.5fr [b2]").unwrap(),
        "[a1] minmax(0,1.5fr) [b2]"
    );
    assert_eq!(css::minmax_fr("100px 1frx"), None);
    let page = "<html><head><style>.g{display:grid;grid-template-columns:1fr 1fr}@media (min-width:600px){.g{grid-template-columns:200px 1fr}}.h{grid-template-columns:100px}</style></head><body></body></html>";
    let h = heal(page);
    // Every grid declaration is repeated in the author's order, healed where it had bare fr.
    let grid = h.html.split("/* trinity-heal: grid */\n").nth(1).unwrap();
    let lines: Vec<&str> = grid.lines().take(3).collect();
    assert_eq!(
        lines,
        [
            ".g{grid-template-columns:minmax(0,1fr) minmax(0,1fr)}",
            "@media (width >= 600px){.g{grid-template-columns:200px minmax(0,1fr)}}",
            ".h{grid-template-columns:100px}"
        ]
    );
    assert!(
        page.contains(".g{display:grid;grid-template-columns:1fr 1fr}"),
        "author CSS untouched"
    );
    assert_eq!(
        h.fixes
            .iter()
            .filter(|f| f.rule == "grid-fr-minmax")
            .count(),
        2
    );
}

#[test]
fn grid_without_bare_fr_adds_nothing() {
    let h = heal("<style>.g{grid-template-columns:repeat(auto-fit,minmax(min(100%,12rem),1fr))}</style><body></body>");
    assert!(!h.html.contains("trinity-heal: grid"));
}

#[test]
fn grid_template_shorthand_heals_columns_only() {
    let r = heal_css(".g{grid-template: auto 1fr / 1fr 2fr}", &preventive()).unwrap();
    assert!(
        r.css
            .contains(".g{grid-template:auto 1fr / minmax(0,1fr) minmax(0,2fr)}"),
        "{}",
        r.css
    );
}

#[test]
fn inline_style_grid_is_appended_and_stays_put_on_a_second_pass() {
    let page =
        r#"<body><div id="g" style="display:grid;grid-template-columns:1fr 1fr">x</div></body>"#;
    let h = heal(page);
    assert!(h.html.contains(r#"style="display:grid;grid-template-columns:1fr 1fr;grid-template-columns:minmax(0,1fr) minmax(0,1fr)""#), "{}", h.html);
    assert!(h
        .fixes
        .iter()
        .any(|f| f.rule == "grid-fr-minmax" && f.selector == "div#g[style]"));
    assert_eq!(heal(&h.html).html, h.html);
}

#[test]
fn important_grid_declarations_stay_important() {
    let r = heal_css(
        ".g{grid-template-columns:1fr 1fr !important}",
        &preventive(),
    )
    .unwrap();
    assert!(r
        .css
        .contains(".g{grid-template-columns:minmax(0,1fr) minmax(0,1fr) !important}"));
}

#[test]
fn idempotent_html_and_css() {
    let opts =
        with_findings(json!([{"selector": ".w", "cause": "fixed_width", "widths": [320, 375]}]));
    for page in [
        PAGE,
        "<p>frag",
        "<style>.g{grid-template-columns:1fr}</style><div class=w>",
        "",
    ] {
        let once = heal_html(page, &opts).unwrap();
        let twice = heal_html(&once.html, &opts).unwrap();
        assert_eq!(once.html, twice.html, "{page}");
        // Without findings, a healed page keeps its targeted rules.
        let plain = heal_html(&once.html, &HealOptions::default()).unwrap();
        assert_eq!(plain.html, once.html);
        let all = heal_html(page, &preventive()).unwrap();
        assert_eq!(heal_html(&all.html, &preventive()).unwrap().html, all.html);
    }
    let once = heal_css(".a{grid-template-columns:1fr 2fr}", &opts).unwrap();
    let twice = heal_css(&once.css, &opts).unwrap();
    assert_eq!(once.css, twice.css);
    assert!(once
        .css
        .starts_with(".a{grid-template-columns:1fr 2fr}\n/* trinity-heal */\n"));
}

#[test]
fn targeted_rules_per_cause_scoped_to_failing_widths() {
    let cases = [
        ("fixed_width", "fixed-width", "max-width:100%!important"),
        (
            "flex_child",
            "flex-child-shrink",
            "min-width:0!important;flex-shrink:1!important",
        ),
        ("grid_child", "grid-child-shrink", "min-width:0!important"),
        (
            "overflowing_container",
            "container-fit",
            "box-sizing:border-box!important",
        ),
        (
            "absolute_position",
            "absolute-inside",
            "right:0!important;left:auto!important",
        ),
        (
            "wide_table",
            "table-scroll",
            "display:block!important;max-width:100%!important;min-width:0!important;overflow-x:auto!important",
        ),
        (
            "oversized_heading",
            "heading-clamp",
            "font-size:clamp(1.5rem,1rem + 4vw,4.5rem)!important",
        ),
        (
            "cramped_grid",
            "grid-reflow",
            "repeat(auto-fit,minmax(min(100%,16rem),1fr))",
        ),
        ("long_text", "text-wrap", "white-space:normal!important"),
        ("wide_media", "media-fit", "height:auto!important"),
        (
            "form_control",
            "form-control-fit",
            "max-width:100%!important;min-width:0!important;flex-shrink:1!important",
        ),
        (
            "nowrap_row",
            "row-wrap",
            "flex-wrap:wrap!important;white-space:normal!important",
        ),
    ];
    for (cause, rule, decl) in cases {
        let opts = with_findings(
            json!([{"selector": "#x", "cause": cause, "widths": [320, 375], "font_size_px": 72}]),
        );
        let h = heal_html(PAGE, &opts).unwrap();
        let fix = h
            .fixes
            .iter()
            .find(|f| f.rule == rule)
            .unwrap_or_else(|| panic!("{cause}"));
        assert_eq!(fix.selector, "#x");
        assert!(
            fix.added.starts_with("@media (max-width:767px){#x{"),
            "{}",
            fix.added
        );
        assert!(fix.added.contains(decl), "{cause}: {}", fix.added);
        assert!(h.html.contains(&fix.added));
    }
    // Failing at the widest checked width: not scoped.
    let opts =
        with_findings(json!([{"selector": ".a", "cause": "fixed_width", "widths": [320, 1280]}]));
    let fix = heal_html(PAGE, &opts).unwrap().fixes.pop().unwrap();
    assert!(fix.added.starts_with(".a{"));
    let opts = with_findings(
        json!([{"selector": ".a", "cause": "absolute_position", "widths": [768], "edge": "left"}]),
    );
    let fix = heal_html(PAGE, &opts).unwrap().fixes.pop().unwrap();
    assert_eq!(fix.added, "@media (max-width:1279px){.a{left:0!important;right:auto!important;max-width:100%!important;box-sizing:border-box!important}}");
}

#[test]
fn new_findings_add_to_earlier_targeted_rules() {
    let a = with_findings(json!([{"selector": ".a", "cause": "fixed_width", "widths": [320]}]));
    let b = with_findings(json!([{"selector": ".b", "cause": "wide_table", "widths": [320]}]));
    let one = heal_html(PAGE, &a).unwrap();
    let two = heal_html(&one.html, &b).unwrap();
    assert!(two.html.contains(".a{max-width") && two.html.contains(".b{display:block"));
    assert_eq!(
        rules_of(&two.fixes)
            .iter()
            .filter(|r| **r == "fixed-width")
            .count(),
        0
    );
    assert_eq!(two.html.matches("<style data-trinity-heal>").count(), 1);
}

#[test]
fn options_are_validated_with_a_path() {
    let err = |v: Value| HealOptions::from_json(v).unwrap_err();
    let e = err(json!({"findings": [{"selector": ".a", "cause": "nope", "widths": [320]}]}));
    assert_eq!(e.kind, crate::ErrorKind::InvalidInput);
    assert_eq!(e.details.unwrap()["path"], "findings[0].cause");
    let e =
        err(json!({"findings": [{"selector": "a{}", "cause": "fixed_width", "widths": [320]}]}));
    assert_eq!(e.details.unwrap()["path"], "findings[0].selector");
    let e = err(json!({"findings": [{"selector": ".a", "cause": "fixed_width", "widths": []}]}));
    assert_eq!(e.details.unwrap()["path"], "findings[0].widths");
    let e = err(json!({"bogus": 1}));
    assert_eq!(e.kind, crate::ErrorKind::InvalidInput);
    assert_eq!(
        err(json!({"widths": []})).details.unwrap()["path"],
        "widths"
    );
    assert_eq!(
        HealOptions::from_json(Value::Null).unwrap(),
        HealOptions::default()
    );
}

#[test]
fn malformed_input_heals_without_crashing() {
    for page in [
        "<html><head><style>.g{grid-template-columns:1fr 1fr; {{{ }</style><body><div <p>",
        "<style>@media (((( {.g{grid-template-columns:1fr}}</style>",
        "</body></html><body><body>",
        "<div style=\"grid-template-columns:((1fr\">",
        "<style>",
        "<!doctype html",
        "\u{0}\u{feff}<p>é 漢字 🙂",
    ] {
        let h = heal(page);
        assert_eq!(heal(&h.html).html, h.html, "{page}");
    }
    assert!(heal_css("}}}{{{ grid-template-columns: 1fr", &HealOptions::default()).is_ok());
}

#[test]
fn non_utf8_is_invalid_input() {
    let e = heal_html_json(b"<p>\xff\xfe</p>", Value::Null).unwrap_err();
    assert_eq!(e.kind, crate::ErrorKind::InvalidInput);
    let e = heal_css_json(b"a{}\xc3", Value::Null).unwrap_err();
    assert_eq!(e.kind, crate::ErrorKind::InvalidInput);
    let ok = heal_html_json(b"<p>x</p>", json!({"safety_net": true})).unwrap();
    assert!(ok["html"].as_str().unwrap().contains("data-trinity-heal"));
    assert_eq!(ok["fixes"].as_array().unwrap().len(), 4);
}

#[test]
fn our_old_block_is_not_read_as_author_css() {
    let opts = preventive();
    let once = heal_html(
        "<style>.g{grid-template-columns:1fr}</style><body></body>",
        &opts,
    )
    .unwrap();
    let twice = heal_html(&once.html, &opts).unwrap();
    assert_eq!(
        twice
            .fixes
            .iter()
            .filter(|f| f.rule == "grid-fr-minmax")
            .count(),
        1
    );
}

#[test]
fn default_options_change_nothing() {
    // No findings: no block, no viewport meta, no grid or inline-style rewrite, no fixes.
    for page in [
        PAGE,
        "<html><head><title>desktop only</title></head><body><div style=\"width:900px\">x</div></body></html>",
        "<style>.g{display:grid;grid-template-columns:1fr 1fr}</style><body><div class=g></div></body>",
        r#"<body><div style="display:grid;grid-template-columns:1fr 1fr">x</div></body>"#,
        "<p>fragment",
        "<style>",
        "",
    ] {
        let h = heal_html(page, &HealOptions::default()).unwrap();
        assert_eq!(h.html, page);
        assert!(h.fixes.is_empty(), "{page}: {:?}", h.fixes);
        let j = heal_html_json(page.as_bytes(), Value::Null).unwrap();
        assert_eq!(j["html"], page);
    }
    let css = ".g{grid-template-columns:1fr 1fr}";
    let h = heal_css(css, &HealOptions::default()).unwrap();
    assert_eq!((h.css.as_str(), h.fixes.len()), (css, 0));
    // A block of ours with nothing targeted in it is taken out again by a default pass.
    let netted = heal(PAGE);
    assert_eq!(
        heal_html(&netted.html, &HealOptions::default())
            .unwrap()
            .html
            .replace(
                r#"<meta name="viewport" content="width=device-width, initial-scale=1">"#,
                ""
            ),
        PAGE
    );
}

#[test]
fn viewport_meta_is_an_option_and_reported() {
    let opts = HealOptions::from_json(json!({"viewport": true})).unwrap();
    let h = heal_html(PAGE, &opts).unwrap();
    assert_eq!(rules_of(&h.fixes), ["viewport-meta"]);
    assert!(h.html.contains("initial-scale=1"));
    assert!(!h.html.contains("data-trinity-heal"));
}

#[test]
fn safety_net_never_sets_heights_or_min_content_breaking() {
    let h = heal_html(
        PAGE,
        &HealOptions::from_json(json!({"safety_net": true})).unwrap(),
    )
    .unwrap();
    let at = h.html.find("<style data-trinity-heal>").unwrap();
    let block = &h.html[at..];
    for banned in ["height", "anywhere", "min-width", "!important"] {
        assert!(!block.contains(banned), "{banned}: {block}");
    }
    assert!(
        block
            .lines()
            .skip(2)
            .take(4)
            .all(|l| l.starts_with(":where(")),
        "{block}"
    );
}
