//! Which peers the SIP server answers.
//!
//! A redirect server's 302 names where a number forwards (a customer's SIP
//! URI, PBX or mobile number), so an operator exposing it on a public address
//! lists the networks of its own SBCs and carriers; everyone else gets no
//! answer at all (UDP datagrams are dropped, TCP connections closed at once),
//! which also gives scanners nothing to go on. An empty list answers anyone.

use ipnet::IpNet;
use std::net::IpAddr;

/// Networks whose requests are answered; empty: all.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Allow(Vec<IpNet>);

impl Allow {
    /// Everyone.
    pub fn any() -> Self {
        Allow(Vec::new())
    }

    /// Parses a comma-separated list of networks (`10.0.0.0/8`,
    /// `2001:db8::/32`) and single addresses (`192.0.2.7`).
    pub fn parse(list: &str) -> Result<Self, String> {
        let mut networks = Vec::new();
        for item in list.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            let network = match item.parse::<IpNet>() {
                Ok(network) => network.trunc(),
                Err(_) => item.parse::<IpAddr>().map(IpNet::from).map_err(|_| {
                    format!("{item:?} is neither an address nor a network like 10.0.0.0/8")
                })?,
            };
            networks.push(network);
        }
        if networks.is_empty() {
            return Err("the list names no address or network".to_owned());
        }
        Ok(Allow(networks))
    }

    /// Whether everyone is answered.
    pub fn is_any(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether requests from `ip` are answered. An IPv4-mapped IPv6 address
    /// (a dual-stack socket's view of an IPv4 peer) counts as that IPv4 one.
    pub fn permits(&self, ip: IpAddr) -> bool {
        if self.0.is_empty() {
            return true;
        }
        let ip = ip.to_canonical();
        self.0.iter().any(|network| network.contains(&ip))
    }
}

#[cfg(test)]
mod tests {
    use super::Allow;
    use std::net::IpAddr;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn networks_and_single_addresses_are_understood() {
        let allow = Allow::parse(" 10.0.0.0/8, 192.0.2.7 ,2001:db8::/32,").unwrap();
        for permitted in ["10.1.2.3", "192.0.2.7", "2001:db8::1", "::ffff:10.9.9.9"] {
            assert!(allow.permits(ip(permitted)), "{permitted}");
        }
        for refused in ["11.0.0.1", "192.0.2.8", "2001:db9::1", "127.0.0.1", "::1"] {
            assert!(!allow.permits(ip(refused)), "{refused}");
        }
    }

    #[test]
    fn host_bits_in_a_network_are_ignored() {
        let allow = Allow::parse("192.0.2.77/24").unwrap();
        assert!(allow.permits(ip("192.0.2.1")));
        assert!(!allow.permits(ip("192.0.3.1")));
    }

    #[test]
    fn nonsense_and_empty_lists_are_refused() {
        for bad in ["10.0.0.0/33", "pbx.example.com", "10.0.0", "", " , "] {
            assert!(Allow::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn no_list_answers_anyone() {
        assert!(Allow::any().permits(ip("203.0.113.9")));
        assert!(Allow::any().is_any());
    }
}
