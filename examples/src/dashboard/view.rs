//! The dashboard's HTML, rendered with maud: every interpolated value is escaped, so names
//! that come from iSNS, the targets or the configuration show as text, never as markup.

use maud::{DOCTYPE, Markup, Render, html};

use super::Role;
use super::snapshot::{AssignmentRow, Health, RequestRow, ServerRow, Snapshot, StorageSystem};
use crate::boot::utc;

/// Text as shown on the page: control characters (which have no glyph and which a terminal
/// or a browser may act on) become a visible `\u{..}` escape; everything else stays as it is
/// and maud escapes it.
#[must_use]
pub fn shown(text: &str) -> String {
    if !text.chars().any(char::is_control) {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if c.is_control() {
            out.push_str(&format!("\\u{{{:x}}}", u32::from(c)));
        } else {
            out.push(c);
        }
    }
    out
}

/// The whole page: header, filter controls, the live part (from [`live`]), the script.
#[must_use]
pub fn page(live: &impl Render, role: Role, logout: bool) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { "bcm — iSCSI boot configuration" }
                link rel="stylesheet" href="/ui/dashboard.css";
            }
            body data-role=(role.as_str()) {
                header {
                    h1 { "bcm" }
                    span.sub { "iSCSI boot configuration manager" }
                    span.role { "signed in as " (role.as_str()) }
                    @if logout {
                        form method="post" action="/logout" {
                            button type="submit" { "Log out" }
                        }
                    }
                }
                div #controls {
                    label { "Filter " input #filter type="search" placeholder="server or target"; }
                    label { "State " select #state { option value="" { "any" } } }
                    span #updated {}
                }
                main #live { (live) }
                script src="/ui/dashboard.js" {}
            }
        }
    }
}

/// The part of the page that live updates replace.
#[must_use]
pub fn live(s: &Snapshot, role: Role) -> Markup {
    html! {
        (health(&s.health))
        section #storage {
            h2 { "Storage (" (s.systems.len()) " systems, "
                (s.systems.iter().map(|x| x.targets.len()).sum::<usize>()) " targets)" }
            @for (i, sys) in s.systems.iter().enumerate() { (system(i, sys)) }
            @if s.systems.is_empty() { p.empty { "No targets in the inventory." } }
        }
        (assignments(&s.assignments, role))
        (servers(&s.servers))
        (requests(&s.requests))
    }
}

fn health(h: &Health) -> Markup {
    html! {
        section #health {
            h2 { "Health" }
            dl {
                dt { "Status" }
                dd #status class=(if h.reasons.is_empty() { "ok" } else { "bad" }) {
                    (if h.reasons.is_empty() { "ok" } else { "degraded" })
                }
                dt { "iSNS registration" }
                dd #registered { (if h.registered { "registered" } else { "not registered" }) }
                dt { "Inventory rounds" }
                dd #rounds { (h.rounds) }
                dt { "Targets" }
                dd { (h.targets)
                    @if let Some((p, t)) = h.probing { " (probing: " (p) " of " (t) ")" } }
                dt { "Last warning" }
                dd #warning { (h.last_warning.as_deref().map_or_else(|| "none".to_owned(), shown)) }
            }
            @if !h.reasons.is_empty() {
                ul.reasons { @for r in &h.reasons { li { (shown(r)) } } }
            }
        }
    }
}

fn system(i: usize, sys: &StorageSystem) -> Markup {
    html! {
        h3 { "Storage system " span.name { (shown(&sys.entity)) } }
        table.rows.sortable id=(format!("storage-{i}")) {
            thead { tr {
                th { "Target" } th { "Alias" } th { "Portals" } th { "LUN" } th { "Size" }
                th { "State" } th { "Holder" }
            } }
            tbody {
                @for t in &sys.targets {
                    @if t.luns.is_empty() {
                        tr.unprobed data-target=(shown(&t.target)) data-state="unprobed" data-server="" {
                            td.target { (shown(&t.target)) }
                            td.alias { (t.alias.as_deref().map(shown).unwrap_or_default()) }
                            td { (t.portals.join(" ")) }
                            td.reason colspan="4" {
                                @match &t.probe {
                                    Some(p) => { "unprobed: " (p.state) ": " (shown(&p.reason)) }
                                    None => { "no LUN reported yet (not probed)" }
                                }
                            }
                        }
                    }
                    @for l in &t.luns {
                        tr.lun data-target=(shown(&t.target)) data-lun=(l.lun) data-state=(l.state)
                            data-server=(l.server.as_deref().map(shown).unwrap_or_default())
                            data-size=(l.size_bytes.map(|b| b.to_string()).unwrap_or_default()) {
                            td.target { (shown(&t.target)) }
                            td.alias { (t.alias.as_deref().map(shown).unwrap_or_default()) }
                            td { (t.portals.join(" ")) }
                            td.num { (l.lun) }
                            td.num data-value=(l.size_bytes.unwrap_or(0)) {
                                (l.size.as_deref().unwrap_or("unknown")) }
                            td.state { (l.state) }
                            td.holder { (l.server.as_deref().map(shown).unwrap_or_default()) }
                        }
                    }
                }
            }
        }
    }
}

fn assignments(rows: &[AssignmentRow], role: Role) -> Markup {
    let operator = role == Role::Operator;
    html! {
        section #assignments {
            h2 { "Assignments (" (rows.len()) ")" }
            table.rows.sortable #assignment-table {
                thead { tr {
                    th { "Server" } th { "BMC" } th { "Protocol" } th { "Target" } th { "LUN" }
                    th { "Size" } th { "State" } th { "Since" } th { "Boot" }
                    @if operator { th { "" } }
                } }
                tbody {
                    @for a in rows {
                        tr.assignment data-server=(shown(&a.server)) data-target=(shown(&a.target))
                            data-state=(a.state) {
                            td.server { (shown(&a.server)) }
                            td { (a.bmc.as_deref().map(shown).unwrap_or_default()) }
                            td { (a.protocol) }
                            td.target { (shown(&a.target))
                                @if let Some(s) = &a.secondary {
                                    br; span.secondary { "secondary: " (shown(s)) } } }
                            td.num { (a.lun) }
                            td.nowrap { (a.size.as_deref().unwrap_or("unknown")) }
                            td.state { (a.state) }
                            td.nowrap data-value=(a.since_ms.unwrap_or(0)) {
                                (a.since_ms.map(utc).unwrap_or_default()) }
                            td.boot class=(if a.boot_confirmed { "confirmed" } else { "" }) {
                                (a.boot_mode) ": " (a.boot_summary) }
                            @if operator {
                                td { button.release type="button" data-server=(shown(&a.server)) {
                                    "Release" } }
                            }
                        }
                    }
                }
            }
            @if rows.is_empty() { p.empty { "No server holds a boot disk." } }
        }
    }
}

fn servers(rows: &[ServerRow]) -> Markup {
    html! {
        section #servers {
            h2 { "Configured servers (" (rows.len()) ")" }
            table.rows.sortable #server-table {
                thead { tr { th { "Server" } th { "BMC" } th { "Protocol" } th { "Boot" }
                    th { "Boot disk" } } }
                tbody {
                    @for s in rows {
                        tr.server data-server=(shown(&s.name)) data-target=""
                            data-state=(if s.assigned { "assigned" } else { "unassigned" }) {
                            td.server { (shown(&s.name)) }
                            td { (s.bmc) }
                            td { (s.protocol) }
                            td { (s.boot_mode) }
                            td.state { (if s.assigned { "assigned" } else { "unassigned" }) }
                        }
                    }
                }
            }
        }
    }
}

fn requests(rows: &[RequestRow]) -> Markup {
    html! {
        section #requests {
            h2 { "Recent requests" }
            table.rows.sortable #request-table {
                thead { tr { th { "Request" } th { "Server" } th { "Kind" } th { "State" }
                    th { "Updated" } th { "Failed step" } } }
                tbody {
                    @for r in rows {
                        tr.request data-server=(shown(&r.server)) data-target="" data-state=(r.state.as_str()) {
                            td { (shown(&r.request_id)) }
                            td.server { (shown(&r.server)) }
                            td { (r.kind.as_str()) }
                            td.state { (r.state.as_str()) }
                            td.nowrap data-value=(r.updated_ms) { (utc(r.updated_ms)) }
                            td.error { (r.error.as_deref().map(shown).unwrap_or_default()) }
                        }
                    }
                }
            }
            @if rows.is_empty() { p.empty { "No request yet." } }
        }
    }
}

/// The login form; `message` says why the last attempt failed.
#[must_use]
pub fn login(message: Option<&str>) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { "bcm — sign in" }
                link rel="stylesheet" href="/ui/dashboard.css";
            }
            body.login {
                form #login method="post" action="/login" {
                    h1 { "bcm" }
                    label { "API token " input #token type="password" name="token"
                        autocomplete="current-password" required; }
                    @if let Some(m) = message { p.error { (m) } }
                    button type="submit" { "Sign in" }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shows_control_characters_as_escapes_and_leaves_other_text() {
        assert_eq!(shown("a\u{7}b\n"), "a\\u{7}b\\u{a}");
        assert_eq!(shown("<b>é</b>"), "<b>é</b>");
    }

    #[test]
    fn escapes_markup_in_every_name() {
        let hostile = "\"><script>window.pwned=1</script><img src=x onerror=alert(1)>";
        let snap = Snapshot {
            systems: vec![StorageSystem {
                entity: hostile.to_owned(),
                targets: vec![crate::manager::TargetRow {
                    target: hostile.to_owned(),
                    entity: hostile.to_owned(),
                    alias: Some(hostile.to_owned()),
                    portals: vec![],
                    tags: vec![],
                    luns: vec![],
                    probe: None,
                }],
            }],
            servers: vec![ServerRow {
                name: format!("{hostile}\u{1b}[31m"),
                bmc: "127.0.0.1:623".to_owned(),
                protocol: "IPMI",
                boot_mode: "oem",
                assigned: false,
            }],
            ..Snapshot::default()
        };
        let html = page(&live(&snap, Role::Operator), Role::Operator, true).into_string();
        assert!(!html.contains("<script>window"), "{html}");
        assert!(!html.contains("<img"), "{html}");
        assert!(html.contains("&lt;script&gt;window.pwned=1&lt;/script&gt;"));
        assert!(html.contains("\\u{1b}[31m"));
        assert!(!html.contains('\u{1b}'));
        assert_eq!(
            html.matches("<script").count(),
            1,
            "only the page's own script"
        );
    }
}
