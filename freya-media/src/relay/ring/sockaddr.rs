//! Socket addresses to and from the C structs the ring's receives and sends carry.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

/// The address a `sockaddr_in`/`sockaddr_in6` holds; `None` for another family.
fn socket_addr(s: &libc::sockaddr_storage) -> Option<SocketAddr> {
    match i32::from(s.ss_family) {
        libc::AF_INET => {
            // SAFETY: the family says the storage holds a sockaddr_in, which it can hold.
            let a = unsafe { &*(s as *const libc::sockaddr_storage).cast::<libc::sockaddr_in>() };
            Some(SocketAddr::V4(SocketAddrV4::new(
                Ipv4Addr::from(u32::from_be(a.sin_addr.s_addr)),
                u16::from_be(a.sin_port),
            )))
        }
        libc::AF_INET6 => {
            // SAFETY: as above, for sockaddr_in6.
            let a = unsafe { &*(s as *const libc::sockaddr_storage).cast::<libc::sockaddr_in6>() };
            Some(SocketAddr::V6(SocketAddrV6::new(
                Ipv6Addr::from(a.sin6_addr.s6_addr),
                u16::from_be(a.sin6_port),
                a.sin6_flowinfo,
                a.sin6_scope_id,
            )))
        }
        _ => None,
    }
}

/// `addr` as the kernel reads it, with its length.
pub(super) fn sockaddr_storage(addr: SocketAddr) -> (libc::sockaddr_storage, libc::socklen_t) {
    // SAFETY: all-zero is a valid sockaddr_storage.
    let mut s: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    match addr {
        SocketAddr::V4(a) => {
            // SAFETY: sockaddr_storage is large and aligned enough for a sockaddr_in.
            let v4 = unsafe {
                &mut *(&mut s as *mut libc::sockaddr_storage).cast::<libc::sockaddr_in>()
            };
            v4.sin_family = libc::AF_INET as libc::sa_family_t;
            v4.sin_port = a.port().to_be();
            v4.sin_addr.s_addr = u32::from(*a.ip()).to_be();
            (
                s,
                std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
            )
        }
        SocketAddr::V6(a) => {
            // SAFETY: as above, for sockaddr_in6.
            let v6 = unsafe {
                &mut *(&mut s as *mut libc::sockaddr_storage).cast::<libc::sockaddr_in6>()
            };
            v6.sin6_family = libc::AF_INET6 as libc::sa_family_t;
            v6.sin6_port = a.port().to_be();
            v6.sin6_addr.s6_addr = a.ip().octets();
            v6.sin6_flowinfo = a.flowinfo();
            v6.sin6_scope_id = a.scope_id();
            (
                s,
                std::mem::size_of::<libc::sockaddr_in6>() as libc::socklen_t,
            )
        }
    }
}

/// The source address the kernel wrote into a multishot receive's buffer (`name`: up to
/// `msg_namelen` bytes of a `sockaddr_in` or `sockaddr_in6`).
pub(super) fn socket_addr_from_name(name: &[u8]) -> Option<SocketAddr> {
    // SAFETY: all-zero is a valid sockaddr_storage.
    let mut s: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let n = name
        .len()
        .min(std::mem::size_of::<libc::sockaddr_storage>());
    // SAFETY: `n` bytes fit in `s`, and any bytes are a valid sockaddr_storage.
    unsafe {
        std::ptr::copy_nonoverlapping(
            name.as_ptr(),
            (&mut s as *mut libc::sockaddr_storage).cast::<u8>(),
            n,
        );
    }
    let needed = match i32::from(s.ss_family) {
        libc::AF_INET => std::mem::size_of::<libc::sockaddr_in>(),
        libc::AF_INET6 => std::mem::size_of::<libc::sockaddr_in6>(),
        _ => return None,
    };
    if n < needed {
        return None;
    }
    socket_addr(&s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn socket_addresses_survive_sockaddr_storage() {
        for a in ["127.0.0.1:4000", "[::1]:5004", "[fe80::1%2]:10000"] {
            let a: SocketAddr = a.parse().unwrap();
            let (s, len) = sockaddr_storage(a);
            assert_eq!(socket_addr(&s), Some(a));
            // As a multishot receive writes it: the first `len` bytes.
            // SAFETY: reading the bytes of a plain C struct.
            let bytes = unsafe {
                std::slice::from_raw_parts(
                    (&s as *const libc::sockaddr_storage).cast::<u8>(),
                    len as usize,
                )
            };
            assert_eq!(socket_addr_from_name(bytes), Some(a));
            assert_eq!(
                socket_addr_from_name(&bytes[..len as usize - 1]),
                None,
                "{a} cut short"
            );
        }
        assert_eq!(socket_addr_from_name(&[]), None);
    }
}
