//! Who holds a TCP port on this machine, for the message when the relay's port is taken: the uid
//! of a listening socket, as Linux's `/proc/net/tcp{,6}` lists it (other systems: unknown).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// TCP_LISTEN in `/proc/net/tcp`'s `st` column.
const LISTEN: &str = "0A";

/// The uid of a socket listening on `addr`'s port at `addr`'s IP or a wildcard, if visible.
pub fn listening_uid(addr: SocketAddr) -> Option<u32> {
    ["/proc/net/tcp", "/proc/net/tcp6"]
        .iter()
        .filter_map(|table| std::fs::read_to_string(table).ok())
        .find_map(|text| uid_in_table(&text, addr))
}

/// The uid column of the first listening row of `text` (a `/proc/net/tcp` table) that covers
/// `addr`.
fn uid_in_table(text: &str, addr: SocketAddr) -> Option<u32> {
    text.lines().skip(1).find_map(|row| {
        let cols: Vec<&str> = row.split_whitespace().collect();
        let (local, state, uid) = (cols.get(1)?, cols.get(3)?, cols.get(7)?);
        let (ip_hex, port_hex) = local.split_once(':')?;
        let port = u16::from_str_radix(port_hex, 16).ok()?;
        let ip = parse_ip(ip_hex)?;
        let covers = ip == addr.ip() || ip.is_unspecified();
        (*state == LISTEN && port == addr.port() && covers)
            .then(|| uid.parse().ok())
            .flatten()
    })
}

/// The kernel prints each 32-bit word of the address in host byte order (little-endian here).
fn parse_ip(hex: &str) -> Option<IpAddr> {
    let word = |i: usize| -> Option<[u8; 4]> {
        Some(
            u32::from_str_radix(hex.get(i * 8..i * 8 + 8)?, 16)
                .ok()?
                .to_le_bytes(),
        )
    };
    match hex.len() {
        8 => Some(IpAddr::V4(Ipv4Addr::from(word(0)?))),
        32 => {
            let mut bytes = [0u8; 16];
            for i in 0..4 {
                bytes[i * 4..i * 4 + 4].copy_from_slice(&word(i)?);
            }
            let v6 = Ipv6Addr::from(bytes);
            Some(v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_owner_of_a_listening_port_is_read_from_the_table() {
        let table = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n\
   0: 0100007F:4966 00000000:0000 0A 00000000:00000000 00:00000000 00000000 65534        0 1 1 0000000000000000 100 0 0 10 0\n\
   1: 0100007F:4967 0100007F:9C40 01 00000000:00000000 00:00000000 00000000     0        0 2 1 0000000000000000 20 4 30 10 -1\n\
   2: 00000000:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 3 1 0000000000000000 100 0 0 10 0\n";
        let at = |s: &str| s.parse::<SocketAddr>().unwrap();
        assert_eq!(uid_in_table(table, at("127.0.0.1:18790")), Some(65534));
        assert_eq!(
            uid_in_table(table, at("127.0.0.1:18791")),
            None,
            "not listening"
        );
        assert_eq!(
            uid_in_table(table, at("127.0.0.1:8080")),
            Some(1000),
            "wildcard"
        );
        assert_eq!(uid_in_table(table, at("127.0.0.2:18790")), None);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_real_listener_is_found_with_our_uid() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        assert_eq!(
            listening_uid(addr),
            Some(rustix::process::getuid().as_raw())
        );
    }
}
