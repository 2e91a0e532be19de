//! Asks the kernel over nfnetlink whether an nftables table or chain
//! exists: one request and its answer, no `nft` process.

use std::io;

use netlink_sys::{protocols::NETLINK_NETFILTER, Socket, SocketAddr};

const NFNL_SUBSYS_NFTABLES: u16 = 10;
const NFT_MSG_GETTABLE: u16 = 1;
const NFT_MSG_GETCHAIN: u16 = 4;
const NFTA_TABLE_NAME: u16 = 1;
const NFTA_CHAIN_TABLE: u16 = 1;
const NFTA_CHAIN_NAME: u16 = 3;
const NLMSG_ERROR: u16 = 2;
const NLM_F_REQUEST: u16 = 1;
const NLM_F_ACK: u16 = 4;

/// nftables' address families (`NFPROTO_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    Inet = 1,
    Ip = 2,
    Ip6 = 10,
}

impl Family {
    pub fn keyword(self) -> &'static str {
        match self {
            Family::Inet => "inet",
            Family::Ip => "ip",
            Family::Ip6 => "ip6",
        }
    }
}

pub struct NfQuery {
    socket: Socket,
    seq: u32,
}

impl NfQuery {
    pub fn open() -> io::Result<NfQuery> {
        let mut socket = Socket::new(NETLINK_NETFILTER)?;
        socket.bind_auto()?;
        socket.connect(&SocketAddr::new(0, 0))?;
        Ok(NfQuery { socket, seq: 0 })
    }

    pub fn table_exists(&mut self, family: Family, table: &str) -> io::Result<bool> {
        self.exists(family, NFT_MSG_GETTABLE, &[(NFTA_TABLE_NAME, table)])
    }

    pub fn chain_exists(&mut self, family: Family, table: &str, chain: &str) -> io::Result<bool> {
        self.exists(
            family,
            NFT_MSG_GETCHAIN,
            &[(NFTA_CHAIN_TABLE, table), (NFTA_CHAIN_NAME, chain)],
        )
    }

    fn exists(&mut self, family: Family, msg: u16, attrs: &[(u16, &str)]) -> io::Result<bool> {
        self.seq = self.seq.wrapping_add(1);
        let mut body = vec![family as u8, 0, 0, 0];
        for (kind, value) in attrs {
            let len = 4 + value.len() + 1;
            body.extend_from_slice(&(len as u16).to_ne_bytes());
            body.extend_from_slice(&kind.to_ne_bytes());
            body.extend_from_slice(value.as_bytes());
            body.push(0);
            body.resize(body.len().div_ceil(4) * 4, 0);
        }
        let mut packet = Vec::with_capacity(16 + body.len());
        packet.extend_from_slice(&((16 + body.len()) as u32).to_ne_bytes());
        packet.extend_from_slice(&((NFNL_SUBSYS_NFTABLES << 8) | msg).to_ne_bytes());
        packet.extend_from_slice(&(NLM_F_REQUEST | NLM_F_ACK).to_ne_bytes());
        packet.extend_from_slice(&self.seq.to_ne_bytes());
        packet.extend_from_slice(&0u32.to_ne_bytes());
        packet.extend_from_slice(&body);
        self.socket.send(&packet, 0)?;
        let mut found = false;
        let mut buf = Vec::with_capacity(16 * 1024);
        loop {
            buf.clear();
            self.socket.recv(&mut buf, 0)?;
            let mut off = 0;
            while off + 16 <= buf.len() {
                let len =
                    u32::from_ne_bytes(buf[off..off + 4].try_into().expect("4 bytes")) as usize;
                let kind = u16::from_ne_bytes(buf[off + 4..off + 6].try_into().expect("2 bytes"));
                let seq = u32::from_ne_bytes(buf[off + 8..off + 12].try_into().expect("4 bytes"));
                if len < 16 || off + len > buf.len() {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        "short nfnetlink message",
                    ));
                }
                if seq == self.seq {
                    if kind == NLMSG_ERROR {
                        let code = i32::from_ne_bytes(
                            buf[off + 16..off + 20].try_into().expect("4 bytes"),
                        );
                        return match -code {
                            0 => Ok(found),
                            libc_enoent
                                if libc_enoent == rustix::io::Errno::NOENT.raw_os_error() =>
                            {
                                Ok(false)
                            }
                            errno => Err(io::Error::from_raw_os_error(errno)),
                        };
                    }
                    found = true;
                }
                off += len.div_ceil(4) * 4;
            }
        }
    }
}
