//! Amounts as users type them: an integer in the token's smallest unit (`1500000000000000000`),
//! or a decimal with an `eth` suffix for 18-decimal units (`1.5eth`).

/// Parse an amount; the error says what to type instead.
pub(crate) fn parse_amount(s: &str) -> Result<u128, String> {
    let s = s.trim();
    let hint = "write an integer in the smallest unit (wei), or a decimal with `eth`, e.g. 1.5eth";
    if let Some(eth) = s.strip_suffix("eth").or_else(|| s.strip_suffix("ETH")) {
        let eth = eth.trim();
        let (int, frac) = eth.split_once('.').unwrap_or((eth, ""));
        if int.is_empty() && frac.is_empty()
            || !int.bytes().all(|b| b.is_ascii_digit())
            || !frac.bytes().all(|b| b.is_ascii_digit())
        {
            return Err(format!("`{s}` is not an amount: {hint}"));
        }
        if frac.len() > 18 {
            return Err(format!("`{s}` has more than 18 decimals"));
        }
        let int: u128 = if int.is_empty() {
            0
        } else {
            int.parse().map_err(|_| format!("`{s}` is too large"))?
        };
        let frac_units: u128 = if frac.is_empty() {
            0
        } else {
            format!("{frac:0<18}").parse().map_err(|_| format!("`{s}` is not an amount"))?
        };
        return int
            .checked_mul(10u128.pow(18))
            .and_then(|w| w.checked_add(frac_units))
            .ok_or_else(|| format!("`{s}` does not fit in uint128"));
    }
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("`{s}` is not an amount: {hint}"));
    }
    s.parse().map_err(|_| format!("`{s}` does not fit in uint128"))
}

/// Format wei as ether with up to 18 decimals, trailing zeros trimmed.
pub(crate) fn format_eth(wei: u128) -> String {
    let int = wei / 10u128.pow(18);
    let frac = wei % 10u128.pow(18);
    if frac == 0 {
        return format!("{int} ETH");
    }
    let frac = format!("{frac:018}");
    format!("{int}.{} ETH", frac.trim_end_matches('0'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_units_and_eth() {
        assert_eq!(parse_amount("1500"), Ok(1500));
        assert_eq!(parse_amount("1.5eth"), Ok(1_500_000_000_000_000_000));
        assert_eq!(parse_amount("0.000000000000000001eth"), Ok(1));
        assert_eq!(parse_amount(".5eth"), Ok(500_000_000_000_000_000));
        assert!(parse_amount("1.5").is_err());
        assert!(parse_amount("-1").is_err());
        assert!(parse_amount("1.0000000000000000001eth").is_err());
        assert!(parse_amount("340282366920938463463374607431768211456").is_err());
        assert!(parse_amount("eth").is_err());
        assert_eq!(format_eth(1_500_000_000_000_000_000), "1.5 ETH");
        assert_eq!(format_eth(2_000_000_000_000_000_000), "2 ETH");
    }
}
