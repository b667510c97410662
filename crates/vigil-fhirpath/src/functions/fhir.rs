//! FHIR additions: `extension(url)`, `hasValue()`, `getValue()`, `resolve()` (contained
//! resources, Bundle entries, then the caller's [`crate::ResolveHook`]), `memberOf()`,
//! `subsumes()`, `subsumedBy()` through the [`crate::TerminologyHook`], `htmlChecks()` and
//! `conformsTo()` for the base resource profiles.

use super::{Call, Func};
use crate::context::CodeRef;
use crate::error::{EvalError, EvalErrorKind, EvalResult};
use crate::value::{Collection, Item, Node};
use serde_json::Value;

const BASE_PROFILE: &str = "http://hl7.org/fhir/StructureDefinition/";

pub(super) fn call<'a>(
    cx: &Call<'_, 'a, '_>,
    func: Func,
    input: Collection<'a>,
) -> EvalResult<Collection<'a>> {
    let pos = cx.node.pos;
    match func {
        Func::Extension => {
            let Some(url) = cx.arg_str(0)? else {
                return Ok(Vec::new());
            };
            let mut out = Vec::new();
            for item in &input {
                let Item::Node(n) = item else { continue };
                let obj = match n.value {
                    Some(Value::Object(o)) => Some(o),
                    _ => n.ext.and_then(Value::as_object),
                };
                let Some(exts) = obj
                    .and_then(|o| o.get("extension"))
                    .and_then(Value::as_array)
                else {
                    continue;
                };
                for e in exts {
                    if e.get("url").and_then(Value::as_str) == Some(&*url) {
                        out.push(Item::Node(Node {
                            value: Some(e),
                            ext: None,
                            ty: Some("Extension"),
                        }));
                    }
                }
            }
            Ok(out)
        }
        Func::HasValue => Ok(vec![Item::Boolean(match input.as_slice() {
            [Item::Node(n)] => matches!(n.value, Some(v) if !v.is_object() && !v.is_array()),
            [Item::Node(_), ..] | [] => false,
            [_] => true,
            _ => false,
        })]),
        Func::GetValue => Ok(match input.as_slice() {
            [Item::Node(n)] if n.value.is_some_and(|v| !v.is_object()) => {
                n.primitive().into_iter().collect()
            }
            _ => Vec::new(),
        }),
        Func::Resolve => {
            let mut out = Vec::new();
            for item in &input {
                let reference = match item {
                    Item::Node(n) => match n.value {
                        Some(Value::Object(o)) => o.get("reference").and_then(Value::as_str),
                        Some(Value::String(s)) => Some(s.as_str()),
                        _ => None,
                    },
                    Item::String(s) => Some(
                        cx.ev
                            .ctx
                            .keep(Value::String(s.to_string()))
                            .as_str()
                            .unwrap_or(""),
                    ),
                    _ => None,
                };
                if let Some(r) = reference
                    && let Some(v) = resolve(cx, r, pos)?
                {
                    out.push(Item::Node(Node::root(v)));
                }
            }
            Ok(out)
        }
        Func::MemberOf => {
            let Some(vs) = cx.arg_str(0)? else {
                return Ok(Vec::new());
            };
            let Some(hook) = cx.ev.ctx.terminology else {
                return Ok(Vec::new());
            };
            let mut out = Vec::new();
            for item in &input {
                let codes = codes_of(item);
                if codes.is_empty() {
                    continue;
                }
                let r = hook
                    .member_of(&codes, &vs)
                    .map_err(|e| EvalError::new(EvalErrorKind::Hook(e.clone()), pos, e))?;
                out.extend(r.map(Item::Boolean));
            }
            Ok(out)
        }
        Func::Subsumes | Func::SubsumedBy => {
            let Some(hook) = cx.ev.ctx.terminology else {
                return Ok(Vec::new());
            };
            let other = cx.arg(0)?;
            let (Some(a), Some(b)) = (
                input.first().and_then(|i| codes_of(i).into_iter().next()),
                other.first().and_then(|i| codes_of(i).into_iter().next()),
            ) else {
                return Ok(Vec::new());
            };
            let (x, y) = if func == Func::Subsumes {
                (a, b)
            } else {
                (b, a)
            };
            let r = hook
                .subsumes(x, y)
                .map_err(|e| EvalError::new(EvalErrorKind::Hook(e.clone()), pos, e))?;
            Ok(r.map(Item::Boolean).into_iter().collect())
        }
        Func::HtmlChecks => {
            let Some(item) = cx.ev.singleton(input, pos)? else {
                return Ok(Vec::new());
            };
            Ok(vec![Item::Boolean(item.as_str().is_some_and(html_is_safe))])
        }
        _ => {
            let Some(url) = cx.arg_str(0)? else {
                return Ok(Vec::new());
            };
            let Some(ty) = url
                .strip_prefix(BASE_PROFILE)
                .filter(|t| cx.ev.ctx.model.is_resource(t))
            else {
                return Err(EvalError::new(
                    EvalErrorKind::InvalidArgument,
                    pos,
                    format!("cannot check conformance to unknown profile '{}'", &*url),
                ));
            };
            let mut out = Vec::new();
            for item in &input {
                let rt = match item {
                    Item::Node(n) => n.resource_type(),
                    _ => None,
                };
                out.push(Item::Boolean(
                    rt.is_some_and(|rt| cx.ev.ctx.model.is_subtype(rt, ty)),
                ));
            }
            Ok(out)
        }
    }
}

/// Codes carried by a code, Coding or CodeableConcept item.
fn codes_of<'x>(item: &'x Item<'_>) -> Vec<CodeRef<'x>> {
    let coding = |v: &'x Value| -> Option<CodeRef<'x>> {
        Some(CodeRef {
            system: v.get("system").and_then(Value::as_str),
            code: v.get("code").and_then(Value::as_str)?,
        })
    };
    match item {
        Item::String(s) => vec![CodeRef {
            system: None,
            code: s,
        }],
        Item::Node(n) => match n.value {
            Some(Value::String(s)) => vec![CodeRef {
                system: None,
                code: s,
            }],
            Some(v @ Value::Object(o)) => match o.get("coding").and_then(Value::as_array) {
                Some(codings) => codings.iter().filter_map(coding).collect(),
                None => coding(v).into_iter().collect(),
            },
            _ => Vec::new(),
        },
        _ => Vec::new(),
    }
}

/// Finds the resource a reference points to.
fn resolve<'a>(
    cx: &Call<'_, 'a, '_>,
    reference: &str,
    pos: crate::error::Position,
) -> EvalResult<Option<&'a Value>> {
    let ctx = cx.ev.ctx;
    if let Some(id) = reference.strip_prefix('#') {
        for container in [ctx.resource, ctx.root].into_iter().flatten() {
            let contained = container.get("contained").and_then(Value::as_array);
            if let Some(r) = contained
                .into_iter()
                .flatten()
                .find(|r| r.get("id").and_then(Value::as_str) == Some(id))
            {
                return Ok(Some(r));
            }
        }
        return Ok(None);
    }
    for bundle in [ctx.root, ctx.resource].into_iter().flatten() {
        if bundle.get("resourceType").and_then(Value::as_str) != Some("Bundle") {
            continue;
        }
        let entries = bundle
            .get("entry")
            .and_then(Value::as_array)
            .into_iter()
            .flatten();
        for entry in entries {
            let Some(resource) = entry.get("resource") else {
                continue;
            };
            let full_url = entry.get("fullUrl").and_then(Value::as_str);
            if full_url == Some(reference) {
                return Ok(Some(resource));
            }
            let rt = resource.get("resourceType").and_then(Value::as_str);
            let id = resource.get("id").and_then(Value::as_str);
            if let (Some(rt), Some(id)) = (rt, id) {
                let relative = reference.rsplit('/').take(2).collect::<Vec<_>>();
                let matches_relative =
                    matches!(relative.as_slice(), [rid, rtype] if *rid == id && *rtype == rt);
                let absolute_ok = !reference.contains("://")
                    || full_url.is_some_and(|u| u.ends_with(&format!("{rt}/{id}")));
                if matches_relative && absolute_ok {
                    return Ok(Some(resource));
                }
            }
        }
    }
    match ctx.resolver {
        Some(hook) => match hook.resolve(reference) {
            Ok(Some(v)) => Ok(Some(ctx.keep(v))),
            Ok(None) => Ok(None),
            Err(e) => Err(EvalError::new(EvalErrorKind::Hook(e.clone()), pos, e)),
        },
        None => Ok(None),
    }
}

/// The narrative rules of FHIR (txt-1/txt-2 intent): an XHTML `div` root, no active content
/// (scripts, forms, frames, objects, event handler attributes, `javascript:` links).
pub(crate) fn html_is_safe(html: &str) -> bool {
    let trimmed = html.trim_start();
    if !trimmed.starts_with("<div") {
        return false;
    }
    let lower = html.to_ascii_lowercase();
    const BANNED: [&str; 9] = [
        "<script", "<form", "<iframe", "<frame", "<object", "<embed", "<applet", "<base", "<link",
    ];
    if BANNED.iter().any(|b| lower.contains(b)) || lower.contains("javascript:") {
        return false;
    }
    // Event handler attributes such as ` onclick=`.
    let bytes = lower.as_bytes();
    let mut in_tag = false;
    for (i, b) in bytes.iter().enumerate() {
        match b {
            b'<' => in_tag = true,
            b'>' => in_tag = false,
            b' ' | b'\t' | b'\n' | b'\r' if in_tag => {
                let rest = lower.get(i + 1..).unwrap_or("");
                let name_len = rest.bytes().take_while(u8::is_ascii_alphabetic).count();
                let after = rest.get(name_len..).unwrap_or("").trim_start();
                if name_len > 2 && rest.starts_with("on") && after.starts_with('=') {
                    return false;
                }
            }
            _ => {}
        }
    }
    true
}
