//! The real [`Netlink`]: requests on an rtnetlink socket, answered in
//! turn.
//!
//! Synchronous on purpose: the engine and the monitor are synchronous, a
//! container's setup is a handful of requests each answered in
//! microseconds, and `rtnetlink` would bring a tokio runtime into every
//! `berth run` for them. netlink-packet-route (rtnetlink's own message
//! types) does the encoding; this file only sends and waits.

use std::io;
use std::net::IpAddr;
use std::os::fd::AsRawFd;

use ipnet::IpNet;
use netlink_packet_core::{
    NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_ACK, NLM_F_CREATE, NLM_F_DUMP, NLM_F_EXCL,
    NLM_F_REPLACE, NLM_F_REQUEST,
};
use netlink_packet_route::address::{AddressAttribute, AddressFlags, AddressMessage};
use netlink_packet_route::link::{
    InfoBridgePort, InfoData, InfoKind, InfoPortData, InfoPortKind, InfoVeth, LinkAttribute,
    LinkExtentMask, LinkFlags, LinkInfo, LinkMessage,
};
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteHeader, RouteMessage, RouteProtocol, RouteScope, RouteType,
};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use netlink_sys::{protocols::NETLINK_ROUTE, Socket, SocketAddr};

use super::{Link, LinkKind, Netlink, VethPair};
use crate::NetworkError;

/// An rtnetlink socket in the namespace of the thread that opened it.
pub struct RtNetlink {
    socket: Socket,
    seq: u32,
    buf: Vec<u8>,
}

impl RtNetlink {
    pub fn open() -> Result<RtNetlink, NetworkError> {
        let mut socket = Socket::new(NETLINK_ROUTE)
            .map_err(|e| NetworkError::netlink("open rtnetlink socket", e))?;
        socket
            .bind_auto()
            .map_err(|e| NetworkError::netlink("bind rtnetlink socket", e))?;
        socket
            .connect(&SocketAddr::new(0, 0))
            .map_err(|e| NetworkError::netlink("connect rtnetlink socket", e))?;
        // Kernel's own words for a refused request, when it has them.
        let _ = socket.set_ext_ack(true);
        Ok(RtNetlink {
            socket,
            seq: 0,
            buf: Vec::with_capacity(64 * 1024),
        })
    }

    /// Sends one request and collects what the kernel answers up to its
    /// acknowledgement (or the end of a dump).
    fn request(
        &mut self,
        message: RouteNetlinkMessage,
        flags: u16,
    ) -> io::Result<Vec<RouteNetlinkMessage>> {
        self.seq = self.seq.wrapping_add(1);
        let mut header = NetlinkHeader::default();
        header.flags = NLM_F_REQUEST | NLM_F_ACK | flags;
        header.sequence_number = self.seq;
        let mut packet = NetlinkMessage::new(header, NetlinkPayload::InnerMessage(message));
        packet.finalize();
        let mut out = vec![0u8; packet.buffer_len()];
        packet.serialize(&mut out);
        self.socket.send(&out, 0)?;
        let dump = flags & NLM_F_DUMP == NLM_F_DUMP;
        let mut answers = Vec::new();
        loop {
            self.buf.clear();
            self.socket.recv(&mut self.buf, 0)?;
            let mut offset = 0;
            while offset < self.buf.len() {
                let bytes = &self.buf[offset..];
                let msg = NetlinkMessage::<RouteNetlinkMessage>::deserialize(bytes)
                    .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?;
                let len = msg.header.length as usize;
                if len == 0 {
                    break;
                }
                offset += (len + 3) & !3;
                if msg.header.sequence_number != self.seq {
                    continue;
                }
                match msg.payload {
                    NetlinkPayload::Error(e) => {
                        if e.code.is_some() {
                            return Err(e.to_io());
                        }
                        return Ok(answers);
                    }
                    NetlinkPayload::Done(_) if dump => return Ok(answers),
                    NetlinkPayload::InnerMessage(m) => answers.push(m),
                    _ => {}
                }
            }
        }
    }

    fn change(
        &mut self,
        what: impl Fn() -> String,
        message: RouteNetlinkMessage,
        flags: u16,
    ) -> Result<(), NetworkError> {
        self.request(message, flags)
            .map(drop)
            .map_err(|e| NetworkError::netlink(what(), e))
    }

    fn set_link(
        &mut self,
        index: u32,
        what: &str,
        f: impl FnOnce(&mut LinkMessage),
    ) -> Result<(), NetworkError> {
        let mut msg = LinkMessage::default();
        msg.header.index = index;
        f(&mut msg);
        self.change(
            || format!("{what} of link {index}"),
            RouteNetlinkMessage::SetLink(msg),
            0,
        )
    }
}

fn family(ip: &IpAddr) -> AddressFamily {
    if ip.is_ipv4() {
        AddressFamily::Inet
    } else {
        AddressFamily::Inet6
    }
}

fn to_link(msg: LinkMessage) -> Link {
    let mut link = Link {
        index: msg.header.index,
        name: String::new(),
        kind: LinkKind::Other,
        mac: None,
        mtu: 0,
        up: msg.header.flags.contains(LinkFlags::Up),
        master: None,
    };
    for attr in msg.attributes {
        match attr {
            LinkAttribute::IfName(n) => link.name = n,
            LinkAttribute::Mtu(m) => link.mtu = m,
            LinkAttribute::Controller(m) => link.master = Some(m),
            LinkAttribute::Address(a) => link.mac = a.try_into().ok(),
            LinkAttribute::LinkInfo(infos) => {
                for info in infos {
                    if let LinkInfo::Kind(kind) = info {
                        link.kind = match kind {
                            InfoKind::Bridge => LinkKind::Bridge,
                            InfoKind::Veth => LinkKind::Veth,
                            _ => LinkKind::Other,
                        };
                    }
                }
            }
            _ => {}
        }
    }
    link
}

impl Netlink for RtNetlink {
    fn link(&mut self, name: &str) -> Result<Option<Link>, NetworkError> {
        let mut msg = LinkMessage::default();
        msg.attributes.push(LinkAttribute::IfName(name.to_string()));
        // Counters are most of the answer and none of what berth reads.
        msg.attributes
            .push(LinkAttribute::ExtMask(vec![LinkExtentMask::SkipStats]));
        match self.request(RouteNetlinkMessage::GetLink(msg), 0) {
            Ok(answers) => Ok(answers.into_iter().find_map(|m| match m {
                RouteNetlinkMessage::NewLink(l) => Some(to_link(l)),
                _ => None,
            })),
            Err(e) if e.raw_os_error() == Some(rustix::io::Errno::NODEV.raw_os_error()) => Ok(None),
            Err(e) => Err(NetworkError::netlink(format!("look up link {name}"), e)),
        }
    }

    fn add_bridge(&mut self, name: &str, mtu: Option<u32>) -> Result<u32, NetworkError> {
        let mut msg = LinkMessage::default();
        msg.attributes.push(LinkAttribute::IfName(name.to_string()));
        if let Some(mtu) = mtu {
            msg.attributes.push(LinkAttribute::Mtu(mtu));
        }
        msg.attributes
            .push(LinkAttribute::LinkInfo(vec![LinkInfo::Kind(
                InfoKind::Bridge,
            )]));
        self.change(
            || format!("create bridge {name}"),
            RouteNetlinkMessage::NewLink(msg),
            NLM_F_CREATE | NLM_F_EXCL,
        )?;
        self.link(name)?.map(|l| l.index).ok_or_else(|| {
            NetworkError::netlink(
                format!("create bridge {name}"),
                io::Error::new(io::ErrorKind::NotFound, "gone right after it was made"),
            )
        })
    }

    fn add_veth(&mut self, pair: &VethPair<'_>) -> Result<(), NetworkError> {
        // The peer cannot be brought up in the same request (the kernel
        // opens it before the pair is joined: ENOTCONN); the host end can.
        let mut peer = LinkMessage::default();
        peer.attributes
            .push(LinkAttribute::IfName(pair.peer_name.to_string()));
        peer.attributes
            .push(LinkAttribute::NetNsFd(pair.peer_netns.as_raw_fd()));
        if let Some(mac) = pair.peer_mac {
            peer.attributes.push(LinkAttribute::Address(mac.to_vec()));
        }
        let mut msg = LinkMessage::default();
        msg.header.flags = LinkFlags::Up;
        msg.header.change_mask = LinkFlags::Up;
        msg.attributes
            .push(LinkAttribute::IfName(pair.host_name.to_string()));
        if let Some(mtu) = pair.mtu {
            msg.attributes.push(LinkAttribute::Mtu(mtu));
            peer.attributes.push(LinkAttribute::Mtu(mtu));
        }
        msg.attributes.push(LinkAttribute::Controller(pair.bridge));
        msg.attributes.push(LinkAttribute::LinkInfo(vec![
            LinkInfo::Kind(InfoKind::Veth),
            LinkInfo::Data(InfoData::Veth(InfoVeth::Peer(peer))),
        ]));
        self.change(
            || format!("create veth {} (peer {})", pair.host_name, pair.peer_name),
            RouteNetlinkMessage::NewLink(msg),
            NLM_F_CREATE | NLM_F_EXCL,
        )
    }

    fn set_up(&mut self, index: u32) -> Result<(), NetworkError> {
        self.set_link(index, "bring up", |m| {
            m.header.flags = LinkFlags::Up;
            m.header.change_mask = LinkFlags::Up;
        })
    }

    fn set_mtu(&mut self, index: u32, mtu: u32) -> Result<(), NetworkError> {
        self.set_link(index, "set mtu", |m| {
            m.attributes.push(LinkAttribute::Mtu(mtu))
        })
    }

    fn set_mac(&mut self, index: u32, mac: [u8; 6]) -> Result<(), NetworkError> {
        self.set_link(index, "set mac address", |m| {
            m.attributes.push(LinkAttribute::Address(mac.to_vec()))
        })
    }

    fn set_hairpin(&mut self, index: u32, on: bool) -> Result<(), NetworkError> {
        // A port's bridge settings change through RTM_NEWLINK on the
        // existing link (the kernel's changelink); RTM_SETLINK ignores them.
        let mut msg = LinkMessage::default();
        msg.header.index = index;
        msg.attributes.push(LinkAttribute::LinkInfo(vec![
            LinkInfo::PortKind(InfoPortKind::Bridge),
            LinkInfo::PortData(InfoPortData::BridgePort(vec![InfoBridgePort::HairpinMode(
                on,
            )])),
        ]));
        self.change(
            || format!("set hairpin mode of link {index}"),
            RouteNetlinkMessage::NewLink(msg),
            0,
        )
    }

    fn add_address(&mut self, index: u32, address: IpNet) -> Result<(), NetworkError> {
        let ip = address.addr();
        let mut msg = AddressMessage::default();
        msg.header.family = family(&ip);
        msg.header.prefix_len = address.prefix_len();
        msg.header.index = index;
        msg.attributes.push(AddressAttribute::Local(ip));
        msg.attributes.push(AddressAttribute::Address(ip));
        match address {
            IpNet::V4(v4) => msg
                .attributes
                .push(AddressAttribute::Broadcast(v4.broadcast())),
            // A fresh namespace has no one to clash with: no duplicate
            // address detection, so the address is usable at once.
            IpNet::V6(_) => msg
                .attributes
                .push(AddressAttribute::Flags(AddressFlags::Nodad)),
        }
        self.change(
            || format!("add address {address} to link {index}"),
            RouteNetlinkMessage::NewAddress(msg),
            NLM_F_CREATE | NLM_F_REPLACE,
        )
    }

    fn addresses(&mut self, index: u32) -> Result<Vec<IpNet>, NetworkError> {
        let answers = self
            .request(
                RouteNetlinkMessage::GetAddress(AddressMessage::default()),
                NLM_F_DUMP,
            )
            .map_err(|e| NetworkError::netlink(format!("list addresses of link {index}"), e))?;
        Ok(answers
            .into_iter()
            .filter_map(|m| match m {
                RouteNetlinkMessage::NewAddress(a) if a.header.index == index => {
                    let prefix = a.header.prefix_len;
                    a.attributes.into_iter().find_map(|attr| match attr {
                        AddressAttribute::Address(ip) => IpNet::new(ip, prefix).ok(),
                        _ => None,
                    })
                }
                _ => None,
            })
            .collect())
    }

    fn add_route(
        &mut self,
        destination: IpNet,
        gateway: Option<IpAddr>,
        index: u32,
    ) -> Result<(), NetworkError> {
        let mut msg = RouteMessage::default();
        msg.header = RouteHeader {
            address_family: family(&destination.addr()),
            destination_prefix_length: destination.prefix_len(),
            table: RouteHeader::RT_TABLE_MAIN,
            protocol: RouteProtocol::Boot,
            scope: if gateway.is_some() {
                RouteScope::Universe
            } else {
                RouteScope::Link
            },
            kind: RouteType::Unicast,
            ..RouteHeader::default()
        };
        if destination.prefix_len() > 0 {
            msg.attributes
                .push(RouteAttribute::Destination(RouteAddress::from(
                    destination.network(),
                )));
        }
        if let Some(gw) = gateway {
            msg.attributes
                .push(RouteAttribute::Gateway(RouteAddress::from(gw)));
        }
        msg.attributes.push(RouteAttribute::Oif(index));
        self.change(
            || format!("add route to {destination} via link {index}"),
            RouteNetlinkMessage::NewRoute(msg),
            NLM_F_CREATE | NLM_F_REPLACE,
        )
    }

    fn route_destinations(&mut self) -> Result<Vec<IpNet>, NetworkError> {
        let mut out = Vec::new();
        for af in [AddressFamily::Inet, AddressFamily::Inet6] {
            let mut msg = RouteMessage::default();
            msg.header.address_family = af;
            let answers = self
                .request(RouteNetlinkMessage::GetRoute(msg), NLM_F_DUMP)
                .map_err(|e| NetworkError::netlink("list routes", e))?;
            for m in answers {
                let RouteNetlinkMessage::NewRoute(r) = m else {
                    continue;
                };
                let prefix = r.header.destination_prefix_length;
                if prefix == 0 {
                    continue;
                }
                for attr in r.attributes {
                    if let RouteAttribute::Destination(dest) = attr {
                        let ip = match dest {
                            RouteAddress::Inet(v4) => IpAddr::V4(v4),
                            RouteAddress::Inet6(v6) => IpAddr::V6(v6),
                            _ => continue,
                        };
                        if let Ok(net) = IpNet::new(ip, prefix) {
                            out.push(net.trunc());
                        }
                    }
                }
            }
        }
        Ok(out)
    }

    fn delete_link(&mut self, name: &str) -> Result<(), NetworkError> {
        let mut msg = LinkMessage::default();
        msg.attributes.push(LinkAttribute::IfName(name.to_string()));
        match self.request(RouteNetlinkMessage::DelLink(msg), 0) {
            Ok(_) => Ok(()),
            Err(e) if e.raw_os_error() == Some(rustix::io::Errno::NODEV.raw_os_error()) => Ok(()),
            Err(e) => Err(NetworkError::netlink(format!("delete link {name}"), e)),
        }
    }
}
