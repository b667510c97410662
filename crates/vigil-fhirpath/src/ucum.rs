//! A compact UCUM unit parser and converter, enough for FHIRPath quantity comparison and
//! arithmetic over vital signs and common laboratory units.
//!
//! A unit string becomes a [`Canonical`] form: an exact decimal factor times a product of base
//! dimensions (metre, gram, second, radian, kelvin, coulomb, candela, mole, and one dimension for
//! arbitrary units such as `[iU]`). Two units are comparable when their dimensions are equal.
//! Temperatures (`Cel`, `[degF]`) have an offset and convert only as a bare unit.
//! The mole is kept as its own dimension (rather than UCUM's dimensionless 6.0221367e23) so that
//! `mmol/L` never silently compares with a count per litre.

use rust_decimal::Decimal;
use std::str::FromStr;

/// Number of base dimensions.
const DIMS: usize = 9;

/// A unit reduced to base dimensions: `value_in_unit * factor / divisor` = value in base
/// units. Keeping the divisor apart keeps units such as `/min` (1/60 s⁻¹) exact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Canonical {
    /// Multiplier to base units.
    pub factor: Decimal,
    /// Divisor to base units.
    pub divisor: Decimal,
    /// Exponent of each base dimension (m, g, s, rad, K, C, cd, mol, arbitrary).
    pub dims: [i8; DIMS],
}

const BASE: [&str; DIMS] = ["m", "g", "s", "rad", "K", "C", "cd", "mol", "[arb'U]"];

/// Unit atoms: code, whether metric prefixes apply, factor, definition (in other units).
const ATOMS: &[(&str, bool, &str, &str)] = &[
    ("sr", true, "1", "rad2"),
    ("Hz", true, "1", "s-1"),
    ("N", true, "1000", "g.m.s-2"),
    ("Pa", true, "1", "N.m-2"),
    ("J", true, "1", "N.m"),
    ("W", true, "1", "J.s-1"),
    ("A", true, "1", "C.s-1"),
    ("V", true, "1", "J.C-1"),
    ("F", true, "1", "C.V-1"),
    ("Ohm", true, "1", "V.A-1"),
    ("S", true, "1", "Ohm-1"),
    ("Wb", true, "1", "V.s"),
    ("T", true, "1", "Wb.m-2"),
    ("H", true, "1", "Wb.A-1"),
    ("lm", true, "1", "cd.sr"),
    ("lx", true, "1", "lm.m-2"),
    ("Bq", true, "1", "s-1"),
    ("Gy", true, "1", "J.kg-1"),
    ("Sv", true, "1", "J.kg-1"),
    ("l", true, "1", "dm3"),
    ("L", true, "1", "dm3"),
    ("min", false, "60", "s"),
    ("h", false, "3600", "s"),
    ("d", false, "86400", "s"),
    ("wk", false, "604800", "s"),
    ("a", false, "31557600", "s"),
    ("a_j", false, "31557600", "s"),
    ("mo", false, "2629800", "s"),
    ("mo_j", false, "2629800", "s"),
    ("t", true, "1000000", "g"),
    ("bar", true, "100000", "Pa"),
    ("atm", false, "101325", "Pa"),
    ("m[Hg]", true, "133322", "Pa"),
    ("m[H2O]", true, "9806.65", "Pa"),
    ("[in_i]", false, "0.0254", "m"),
    ("[ft_i]", false, "0.3048", "m"),
    ("[yd_i]", false, "0.9144", "m"),
    ("[mi_i]", false, "1609.344", "m"),
    ("[gr]", false, "0.06479891", "g"),
    ("[lb_av]", false, "453.59237", "g"),
    ("[oz_av]", false, "28.349523125", "g"),
    ("[stone_av]", false, "6350.29318", "g"),
    ("[gal_us]", false, "3.785411784", "L"),
    ("[pt_us]", false, "0.473176473", "L"),
    ("[foz_us]", false, "0.0295735295625", "L"),
    ("cal", true, "4.184", "J"),
    ("[Cal]", false, "4184", "J"),
    ("%", false, "0.01", "1"),
    ("[ppth]", false, "0.001", "1"),
    ("[ppm]", false, "0.000001", "1"),
    ("[ppb]", false, "0.000000001", "1"),
    ("eq", true, "1", "mol"),
    ("osm", true, "1", "mol"),
    ("kat", true, "1", "mol.s-1"),
    ("U", true, "1", "umol.min-1"),
    ("[iU]", true, "1", "[arb'U]"),
    ("[IU]", true, "1", "[arb'U]"),
    ("[CFU]", false, "1", "[arb'U]"),
    ("deg", true, "3.14159265358979323846264338/180", "rad"),
    ("Cel", true, "1", "K"),
    ("[degF]", false, "5/9", "K"),
];

const PREFIXES: &[(&str, i32)] = &[
    ("da", 1),
    ("Y", 24),
    ("Z", 21),
    ("E", 18),
    ("P", 15),
    ("T", 12),
    ("G", 9),
    ("M", 6),
    ("k", 3),
    ("h", 2),
    ("d", -1),
    ("c", -2),
    ("m", -3),
    ("u", -6),
    ("n", -9),
    ("p", -12),
    ("f", -15),
    ("a", -18),
    ("z", -21),
    ("y", -24),
];

fn pow10(e: i32) -> Option<Decimal> {
    if e >= 0 {
        let mut d = Decimal::ONE;
        for _ in 0..e {
            d = d.checked_mul(Decimal::TEN)?;
        }
        Some(d)
    } else {
        let scale = u32::try_from(-e).ok()?;
        (scale <= 28).then(|| Decimal::new(1, scale))
    }
}

impl Canonical {
    fn one() -> Self {
        Canonical {
            factor: Decimal::ONE,
            divisor: Decimal::ONE,
            dims: [0; DIMS],
        }
    }

    fn mul(&self, o: &Canonical, sign: i8) -> Option<Canonical> {
        let (factor, divisor) = if sign > 0 {
            (
                self.factor.checked_mul(o.factor)?,
                self.divisor.checked_mul(o.divisor)?,
            )
        } else {
            (
                self.factor.checked_mul(o.divisor)?,
                self.divisor.checked_mul(o.factor)?,
            )
        };
        let mut dims = self.dims;
        for (d, e) in dims.iter_mut().zip(o.dims) {
            *d = d.checked_add(e.checked_mul(sign)?)?;
        }
        Some(Canonical {
            factor,
            divisor,
            dims,
        })
    }

    fn pow(&self, e: i8) -> Option<Canonical> {
        let mut out = Canonical::one();
        for _ in 0..e.unsigned_abs() {
            out = out.mul(self, if e > 0 { 1 } else { -1 })?;
        }
        Some(out)
    }

    /// Whether values in the two units can be compared.
    pub fn comparable(&self, other: &Canonical) -> bool {
        self.dims == other.dims
    }

    /// A UCUM string for the canonical unit (e.g. `g.m-1`), `1` when dimensionless.
    pub fn unit_string(&self) -> String {
        let parts: Vec<String> = BASE
            .iter()
            .zip(self.dims)
            .filter(|(_, e)| *e != 0)
            .map(|(b, e)| {
                if e == 1 {
                    (*b).to_owned()
                } else {
                    format!("{b}{e}")
                }
            })
            .collect();
        if parts.is_empty() {
            "1".to_owned()
        } else {
            parts.join(".")
        }
    }
}

/// Maps FHIRPath calendar-duration keywords to UCUM codes.
pub fn calendar_to_ucum(unit: &str) -> Option<&'static str> {
    Some(match unit {
        "year" | "years" => "a",
        "month" | "months" => "mo",
        "week" | "weeks" => "wk",
        "day" | "days" => "d",
        "hour" | "hours" => "h",
        "minute" | "minutes" => "min",
        "second" | "seconds" => "s",
        "millisecond" | "milliseconds" => "ms",
        _ => return None,
    })
}

/// Parses a UCUM unit string (or a calendar keyword) into its canonical form.
pub fn parse(unit: &str) -> Option<Canonical> {
    let unit = calendar_to_ucum(unit).unwrap_or(unit);
    let mut p = UnitParser {
        s: unit.as_bytes(),
        i: 0,
        depth: 0,
    };
    let c = p.term()?;
    (p.i == p.s.len()).then_some(c)
}

struct UnitParser<'s> {
    s: &'s [u8],
    i: usize,
    depth: u8,
}

impl UnitParser<'_> {
    fn term(&mut self) -> Option<Canonical> {
        self.depth = self.depth.checked_add(1)?;
        if self.depth > 16 {
            return None;
        }
        let mut acc = if self.s.get(self.i) == Some(&b'/') {
            Canonical::one()
        } else {
            self.component()?
        };
        while let Some(&op) = self.s.get(self.i) {
            let sign = match op {
                b'.' => 1,
                b'/' => -1,
                _ => break,
            };
            self.i += 1;
            let c = self.component()?;
            acc = acc.mul(&c, sign)?;
        }
        self.depth -= 1;
        Some(acc)
    }

    fn component(&mut self) -> Option<Canonical> {
        let c = match self.s.get(self.i)? {
            b'(' => {
                self.i += 1;
                let t = self.term()?;
                if self.s.get(self.i) != Some(&b')') {
                    return None;
                }
                self.i += 1;
                t
            }
            b'{' => Canonical::one(),
            b'0'..=b'9' => self.number_factor()?,
            _ => self.annotatable()?,
        };
        if self.s.get(self.i) == Some(&b'{') {
            let end = self.s[self.i..].iter().position(|&b| b == b'}')?;
            self.i += end + 1;
        }
        Some(c)
    }

    fn annotatable(&mut self) -> Option<Canonical> {
        let start = self.i;
        // A simple unit runs until an operator, parenthesis, annotation or exponent.
        let mut in_bracket = false;
        while let Some(&b) = self.s.get(self.i) {
            match b {
                b'[' => in_bracket = true,
                b']' => in_bracket = false,
                b'.' | b'/' | b'(' | b')' | b'{' if !in_bracket => break,
                b'0'..=b'9' | b'+' | b'-' if !in_bracket && self.i > start => break,
                _ => {}
            }
            self.i += 1;
        }
        let text = std::str::from_utf8(&self.s[start..self.i]).ok()?;
        if text.is_empty() {
            return None;
        }
        let base = atom(text)?;
        let e = if self
            .s
            .get(self.i)
            .is_some_and(|b| b.is_ascii_digit() || *b == b'+' || *b == b'-')
        {
            self.exponent()?
        } else {
            1
        };
        base.pow(e)
    }

    fn number_factor(&mut self) -> Option<Canonical> {
        let start = self.i;
        while self.s.get(self.i).is_some_and(u8::is_ascii_digit) {
            self.i += 1;
        }
        let digits = std::str::from_utf8(&self.s[start..self.i]).ok()?;
        if digits.is_empty() {
            return None;
        }
        if digits == "10" && matches!(self.s.get(self.i), Some(b'*' | b'^')) {
            self.i += 1;
            let e = self.exponent()?;
            return Some(Canonical {
                factor: pow10(i32::from(e))?,
                divisor: Decimal::ONE,
                dims: [0; DIMS],
            });
        }
        Some(Canonical {
            factor: Decimal::from_str(digits).ok()?,
            divisor: Decimal::ONE,
            dims: [0; DIMS],
        })
    }

    fn exponent(&mut self) -> Option<i8> {
        let start = self.i;
        if matches!(self.s.get(self.i), Some(b'+' | b'-')) {
            self.i += 1;
        }
        while self.s.get(self.i).is_some_and(u8::is_ascii_digit) {
            self.i += 1;
        }
        std::str::from_utf8(&self.s[start..self.i])
            .ok()?
            .parse()
            .ok()
    }
}

fn base_atom(code: &str) -> Option<Canonical> {
    if code == "1" {
        return Some(Canonical::one());
    }
    let k = BASE.iter().position(|b| *b == code)?;
    let mut dims = [0; DIMS];
    dims[k] = 1;
    Some(Canonical {
        factor: Decimal::ONE,
        divisor: Decimal::ONE,
        dims,
    })
}

fn defined_atom(code: &str) -> Option<(bool, Canonical)> {
    if let Some(c) = base_atom(code) {
        return Some((code != "1", c));
    }
    let (_, metric, factor, def) = ATOMS.iter().find(|a| a.0 == code)?;
    let def = parse(def)?;
    let (num, den) = factor.split_once('/').unwrap_or((factor, "1"));
    let f = Decimal::from_str(num).ok()?;
    let d = Decimal::from_str(den).ok()?;
    Some((
        *metric,
        Canonical {
            factor: def.factor.checked_mul(f)?,
            divisor: def.divisor.checked_mul(d)?,
            dims: def.dims,
        },
    ))
}

/// A unit atom with an optional metric prefix.
fn atom(code: &str) -> Option<Canonical> {
    if let Some((_, c)) = defined_atom(code) {
        return Some(c);
    }
    for (p, e) in PREFIXES {
        if let Some(rest) = code.strip_prefix(p)
            && let Some((true, c)) = defined_atom(rest)
        {
            return Some(Canonical {
                factor: c.factor.checked_mul(pow10(*e)?)?,
                divisor: c.divisor,
                dims: c.dims,
            });
        }
    }
    None
}

fn kelvin_offset() -> Decimal {
    Decimal::new(27315, 2)
}

fn is_special(unit: &str) -> bool {
    matches!(unit, "Cel" | "[degF]")
}

/// Converts a value in `unit` to base units, handling temperature offsets for bare units.
pub fn to_base(value: Decimal, unit: &str, c: &Canonical) -> Option<Decimal> {
    match unit {
        "Cel" => value.checked_add(kelvin_offset()),
        "[degF]" => value
            .checked_sub(Decimal::from(32))?
            .checked_mul(c.factor)?
            .checked_div(c.divisor)?
            .checked_add(kelvin_offset()),
        _ => value.checked_mul(c.factor)?.checked_div(c.divisor),
    }
}

/// Converts a value in base units back to `unit`.
pub fn from_base(value: Decimal, unit: &str, c: &Canonical) -> Option<Decimal> {
    match unit {
        "Cel" => value.checked_sub(kelvin_offset()),
        "[degF]" => value
            .checked_sub(kelvin_offset())?
            .checked_mul(c.divisor)?
            .checked_div(c.factor)?
            .checked_add(Decimal::from(32)),
        _ => value.checked_mul(c.divisor)?.checked_div(c.factor),
    }
}

/// Two quantities scaled to one common unit, for comparison: exact (only multiplications)
/// unless a temperature offset is involved. `None` when the units are not comparable.
pub fn common_values(
    a: Decimal,
    a_unit: &str,
    b: Decimal,
    b_unit: &str,
) -> Option<(Decimal, Decimal)> {
    let ca = parse(a_unit)?;
    let cb = parse(b_unit)?;
    if !ca.comparable(&cb) {
        return None;
    }
    if is_special(a_unit) || is_special(b_unit) {
        return Some((to_base(a, a_unit, &ca)?, to_base(b, b_unit, &cb)?));
    }
    // a·fa/da vs b·fb/db  <=>  a·fa·db vs b·fb·da (divisors are positive).
    Some((
        a.checked_mul(ca.factor)?.checked_mul(cb.divisor)?,
        b.checked_mul(cb.factor)?.checked_mul(ca.divisor)?,
    ))
}

/// Converts `value` from one unit to another, when comparable.
pub fn convert(value: Decimal, from: &str, to: &str) -> Option<Decimal> {
    let a = parse(from)?;
    let b = parse(to)?;
    if !a.comparable(&b) {
        return None;
    }
    if is_special(from) || is_special(to) {
        return from_base(to_base(value, from, &a)?, to, &b);
    }
    let num = value.checked_mul(a.factor)?.checked_mul(b.divisor)?;
    let den = a.divisor.checked_mul(b.factor)?;
    num.checked_div(den)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    #[test]
    fn conversions_table() {
        let cases = [
            ("1", "kg", "g", "1000"),
            ("1", "[lb_av]", "kg", "0.45359237"),
            ("180", "[lb_av]", "kg", "81.6466266"),
            ("1", "[in_i]", "cm", "2.54"),
            ("6", "[ft_i]", "cm", "182.88"),
            ("37", "Cel", "K", "310.15"),
            ("98.6", "[degF]", "Cel", "37"),
            ("120", "mm[Hg]", "kPa", "15.99864"),
            ("1", "wk", "d", "7"),
            ("2", "h", "min", "120"),
            ("5.5", "mmol/L", "umol/mL", "5.5"),
            ("100", "mg/dL", "g/L", "1"),
            ("1", "10*3/uL", "10*9/L", "1"),
            ("72", "/min", "/s", "1.2"),
            ("72", "{beats}/min", "/h", "4320"),
            ("1", "m2", "cm2", "10000"),
            ("4", "g", "mg", "4000"),
            ("1", "L", "mL", "1000"),
            ("50", "%", "1", "0.5"),
            ("1", "kcal", "kJ", "4.184"),
            ("1", "[Cal]", "kcal", "1"),
            ("1", "week", "days", "7"),
        ];
        for (v, from, to, want) in cases {
            let got = convert(d(v), from, to).unwrap_or_else(|| panic!("{from} -> {to}"));
            assert_eq!(got.normalize(), d(want).normalize(), "{v} {from} -> {to}");
        }
    }

    #[test]
    fn incompatible_and_invalid_units() {
        assert!(convert(Decimal::ONE, "cm", "s").is_none());
        assert!(convert(Decimal::ONE, "mmol/L", "mg/dL").is_none());
        assert!(parse("[s]").is_none());
        assert!(parse("furlong").is_none());
        assert!(parse("((((").is_none());
    }
}
