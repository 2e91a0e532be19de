//! Networks, the containers connected to them (endpoints), the addresses
//! they hold while they run (leases) and their published ports, in the
//! metadata database. The store keeps what the engine tells it as text
//! (configs as JSON, addresses as strings); choosing an address happens
//! inside the transaction that records it, so two containers started at
//! once never get the same one.

use rusqlite::{params, Connection, OptionalExtension};

use crate::{Store, StoreError};

/// A network as stored; `config` is the engine's JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkRecord {
    pub id: String,
    pub name: String,
    pub driver: String,
    pub config: String,
    /// RFC 3339.
    pub created_at: String,
}

/// A container's connection to a network; `config` is the engine's JSON
/// (aliases, a requested address, its interface ...). `position` orders a
/// container's networks (the first one gives its default route).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointRecord {
    pub container_id: String,
    pub network_id: String,
    pub position: u32,
    pub config: String,
}

/// An address a running container holds on a network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseRecord {
    pub network_id: String,
    pub container_id: String,
    pub address: String,
}

/// A published port of a running container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortBindingRecord {
    pub container_id: String,
    pub network_id: String,
    /// `tcp`, `udp` or `sctp`.
    pub protocol: String,
    /// Empty for every address of the host.
    pub host_ip: String,
    pub host_port: u16,
    pub container_ip: String,
    pub container_port: u16,
}

const NETWORK_SELECT: &str = "SELECT id, name, driver, config, created_at FROM networks";

fn network_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<NetworkRecord> {
    Ok(NetworkRecord {
        id: r.get(0)?,
        name: r.get(1)?,
        driver: r.get(2)?,
        config: r.get(3)?,
        created_at: r.get(4)?,
    })
}

fn endpoint_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<EndpointRecord> {
    Ok(EndpointRecord {
        container_id: r.get(0)?,
        network_id: r.get(1)?,
        position: r.get(2)?,
        config: r.get(3)?,
    })
}

fn lease_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<LeaseRecord> {
    Ok(LeaseRecord {
        network_id: r.get(0)?,
        container_id: r.get(1)?,
        address: r.get(2)?,
    })
}

fn port_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<PortBindingRecord> {
    Ok(PortBindingRecord {
        container_id: r.get(0)?,
        network_id: r.get(1)?,
        protocol: r.get(2)?,
        host_ip: r.get(3)?,
        host_port: r.get(4)?,
        container_ip: r.get(5)?,
        container_port: r.get(6)?,
    })
}

fn collect<T>(
    c: &Connection,
    sql: &str,
    args: impl rusqlite::Params,
    row: fn(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
    what: &str,
) -> Result<Vec<T>, StoreError> {
    let mut stmt = c.prepare_cached(sql).map_err(|e| StoreError::db(what, e))?;
    let rows = stmt
        .query_map(args, row)
        .map_err(|e| StoreError::db(what, e))?;
    rows.collect::<Result<Vec<T>, _>>()
        .map_err(|e| StoreError::db(what, e))
}

fn container_names(c: &Connection, ids: &[String]) -> Result<Vec<String>, StoreError> {
    let mut names = Vec::with_capacity(ids.len());
    for id in ids {
        let name: Option<String> = c
            .query_row("SELECT name FROM containers WHERE id = ?1", [id], |r| {
                r.get(0)
            })
            .optional()
            .map_err(|e| StoreError::db("look up container name", e))?;
        names.push(name.unwrap_or_else(|| id.clone()));
    }
    Ok(names)
}

impl Store {
    /// Records a new network; its name must be free.
    pub fn insert_network(&mut self, rec: &NetworkRecord) -> Result<(), StoreError> {
        let tx = self.db.write()?;
        let taken = tx
            .query_row(
                "SELECT 1 FROM networks WHERE name = ?1",
                [&rec.name],
                |_| Ok(()),
            )
            .optional()
            .map_err(|e| StoreError::db("look up network name", e))?
            .is_some();
        if taken {
            return Err(StoreError::NetworkExists(rec.name.clone()));
        }
        tx.execute(
            "INSERT INTO networks (id, name, driver, config, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![rec.id, rec.name, rec.driver, rec.config, rec.created_at],
        )
        .map_err(|e| StoreError::db(format!("record network {}", rec.name), e))?;
        tx.commit().map_err(|e| StoreError::db("commit network", e))
    }

    pub fn list_networks(&self) -> Result<Vec<NetworkRecord>, StoreError> {
        collect(
            self.db.conn(),
            &format!("{NETWORK_SELECT} ORDER BY name"),
            [],
            network_row,
            "list networks",
        )
    }

    pub fn network(&self, id: &str) -> Result<Option<NetworkRecord>, StoreError> {
        self.db
            .conn()
            .query_row(
                &format!("{NETWORK_SELECT} WHERE id = ?1"),
                [id],
                network_row,
            )
            .optional()
            .map_err(|e| StoreError::db("look up network", e))
    }

    /// Networks named `s` or whose ID starts with it; an exact name first,
    /// then an exact ID (docker's order).
    pub fn find_networks(&self, s: &str) -> Result<Vec<NetworkRecord>, StoreError> {
        let mut found = collect(
            self.db.conn(),
            &format!(
                "{NETWORK_SELECT} WHERE name = ?1 OR id = ?1 OR (length(?1) > 0 AND substr(id, 1, length(?1)) = ?1) \
                 ORDER BY name = ?1 DESC, id = ?1 DESC, name"
            ),
            [s],
            network_row,
            "look up network",
        )?;
        found.dedup_by(|a, b| a.id == b.id);
        Ok(found)
    }

    /// Deletes a network unless a running container holds an address on
    /// it: then the error names those containers. Stopped containers'
    /// connections go with it (docker's rule: they fail at their next start).
    pub fn delete_network(&mut self, id: &str) -> Result<(), StoreError> {
        let tx = self.db.write()?;
        let users: Vec<String> = {
            let mut stmt = tx
                .prepare("SELECT DISTINCT container_id FROM leases WHERE network_id = ?1 ORDER BY container_id")
                .map_err(|e| StoreError::db("list network users", e))?;
            let rows = stmt
                .query_map([id], |r| r.get(0))
                .map_err(|e| StoreError::db("list network users", e))?;
            rows.collect::<Result<_, _>>()
                .map_err(|e| StoreError::db("list network users", e))?
        };
        if !users.is_empty() {
            return Err(StoreError::NetworkInUse {
                containers: container_names(&tx, &users)?,
            });
        }
        tx.execute("DELETE FROM networks WHERE id = ?1", [id])
            .map_err(|e| StoreError::db("delete network", e))?;
        tx.commit()
            .map_err(|e| StoreError::db("commit network removal", e))
    }

    /// Connects a container to a network (or updates the connection).
    pub fn put_endpoint(&mut self, rec: &EndpointRecord) -> Result<(), StoreError> {
        let tx = self.db.write()?;
        tx.execute(
            "INSERT INTO endpoints (container_id, network_id, position, config) VALUES (?1, ?2, ?3, ?4) \
             ON CONFLICT (container_id, network_id) DO UPDATE SET position = ?3, config = ?4",
            params![rec.container_id, rec.network_id, rec.position, rec.config],
        )
        .map_err(|e| StoreError::db("record endpoint", e))?;
        tx.commit()
            .map_err(|e| StoreError::db("commit endpoint", e))
    }

    /// Disconnects a container from a network: the connection, its
    /// addresses and ports there.
    pub fn delete_endpoint(
        &mut self,
        container_id: &str,
        network_id: &str,
    ) -> Result<(), StoreError> {
        let tx = self.db.write()?;
        for table in ["endpoints", "leases", "port_bindings"] {
            tx.execute(
                &format!("DELETE FROM {table} WHERE container_id = ?1 AND network_id = ?2"),
                [container_id, network_id],
            )
            .map_err(|e| StoreError::db(format!("delete from {table}"), e))?;
        }
        tx.commit()
            .map_err(|e| StoreError::db("commit endpoint removal", e))
    }

    /// A container's connections, in order.
    pub fn container_endpoints(
        &self,
        container_id: &str,
    ) -> Result<Vec<EndpointRecord>, StoreError> {
        collect(
            self.db.conn(),
            "SELECT container_id, network_id, position, config FROM endpoints WHERE container_id = ?1 ORDER BY position, network_id",
            [container_id],
            endpoint_row,
            "list container endpoints",
        )
    }

    /// The containers connected to a network.
    pub fn network_endpoints(&self, network_id: &str) -> Result<Vec<EndpointRecord>, StoreError> {
        collect(
            self.db.conn(),
            "SELECT container_id, network_id, position, config FROM endpoints WHERE network_id = ?1 ORDER BY container_id",
            [network_id],
            endpoint_row,
            "list network endpoints",
        )
    }

    /// Gives a container an address on a network, chosen by `choose` from
    /// the addresses in use there and the last one handed out for the
    /// family (`v6`), in one transaction holding the write lock.
    pub fn lease<E: From<StoreError>>(
        &mut self,
        network_id: &str,
        container_id: &str,
        v6: bool,
        choose: impl FnOnce(&[String], Option<&str>) -> Result<String, E>,
    ) -> Result<String, E> {
        let tx = self.db.write()?;
        let in_use: Vec<String> = {
            let mut stmt = tx
                .prepare_cached("SELECT address FROM leases WHERE network_id = ?1")
                .map_err(|e| StoreError::db("list leases", e))?;
            let rows = stmt
                .query_map([network_id], |r| r.get(0))
                .map_err(|e| StoreError::db("list leases", e))?;
            rows.collect::<Result<_, _>>()
                .map_err(|e| StoreError::db("list leases", e))?
        };
        let column = if v6 { "last_v6" } else { "last_v4" };
        let last: Option<String> = tx
            .query_row(
                &format!("SELECT {column} FROM networks WHERE id = ?1"),
                [network_id],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| StoreError::db("look up network", e))?
            .flatten();
        let address = choose(&in_use, last.as_deref())?;
        tx.execute(
            "INSERT INTO leases (network_id, address, container_id) VALUES (?1, ?2, ?3)",
            params![network_id, address, container_id],
        )
        .map_err(|e| StoreError::db(format!("lease {address}"), e))?;
        tx.execute(
            &format!("UPDATE networks SET {column} = ?2 WHERE id = ?1"),
            params![network_id, address],
        )
        .map_err(|e| StoreError::db("record last lease", e))?;
        tx.commit().map_err(|e| StoreError::db("commit lease", e))?;
        Ok(address)
    }

    /// The addresses held on a network.
    pub fn network_leases(&self, network_id: &str) -> Result<Vec<LeaseRecord>, StoreError> {
        collect(
            self.db.conn(),
            "SELECT network_id, container_id, address FROM leases WHERE network_id = ?1 ORDER BY address",
            [network_id],
            lease_row,
            "list leases",
        )
    }

    /// The addresses a container holds.
    pub fn container_leases(&self, container_id: &str) -> Result<Vec<LeaseRecord>, StoreError> {
        collect(
            self.db.conn(),
            "SELECT network_id, container_id, address FROM leases WHERE container_id = ?1 ORDER BY network_id, address",
            [container_id],
            lease_row,
            "list leases",
        )
    }

    /// Every lease, for reconciling after killed monitors.
    pub fn all_leases(&self) -> Result<Vec<LeaseRecord>, StoreError> {
        collect(
            self.db.conn(),
            "SELECT network_id, container_id, address FROM leases ORDER BY container_id",
            [],
            lease_row,
            "list leases",
        )
    }

    /// Records a container's published ports; a port another container
    /// already has is refused (docker's "port is already allocated"), all
    /// or nothing.
    pub fn add_port_bindings(&mut self, ports: &[PortBindingRecord]) -> Result<(), StoreError> {
        let tx = self.db.write()?;
        for p in ports {
            let holder: Option<String> = tx
                .query_row(
                    "SELECT container_id FROM port_bindings WHERE protocol = ?1 AND host_port = ?2 \
                     AND (host_ip = ?3 OR host_ip = '' OR ?3 = '')",
                    params![p.protocol, p.host_port, p.host_ip],
                    |r| r.get(0),
                )
                .optional()
                .map_err(|e| StoreError::db("look up port binding", e))?;
            if holder.is_some() {
                return Err(StoreError::PortAllocated {
                    host_ip: p.host_ip.clone(),
                    host_port: p.host_port,
                });
            }
            tx.execute(
                "INSERT INTO port_bindings (container_id, network_id, protocol, host_ip, host_port, container_ip, container_port) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![p.container_id, p.network_id, p.protocol, p.host_ip, p.host_port, p.container_ip, p.container_port],
            )
            .map_err(|e| StoreError::db("record port binding", e))?;
        }
        tx.commit()
            .map_err(|e| StoreError::db("commit port bindings", e))
    }

    pub fn container_port_bindings(
        &self,
        container_id: &str,
    ) -> Result<Vec<PortBindingRecord>, StoreError> {
        collect(
            self.db.conn(),
            "SELECT container_id, network_id, protocol, host_ip, host_port, container_ip, container_port \
             FROM port_bindings WHERE container_id = ?1 ORDER BY container_port, protocol, host_ip",
            [container_id],
            port_row,
            "list port bindings",
        )
    }

    pub fn all_port_bindings(&self) -> Result<Vec<PortBindingRecord>, StoreError> {
        collect(
            self.db.conn(),
            "SELECT container_id, network_id, protocol, host_ip, host_port, container_ip, container_port \
             FROM port_bindings ORDER BY container_id",
            [],
            port_row,
            "list port bindings",
        )
    }

    /// Drops what a container held while it ran (its addresses and
    /// published ports), keeping its connections: it stopped.
    pub fn release_container_network(&mut self, container_id: &str) -> Result<(), StoreError> {
        let tx = self.db.write()?;
        for table in ["leases", "port_bindings"] {
            tx.execute(
                &format!("DELETE FROM {table} WHERE container_id = ?1"),
                [container_id],
            )
            .map_err(|e| StoreError::db(format!("delete from {table}"), e))?;
        }
        tx.commit()
            .map_err(|e| StoreError::db("commit network release", e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::ContainerRecord;

    fn store_with_containers(names: &[&str]) -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(dir.path()).unwrap();
        let image: crate::Digest = format!("sha256:{}", "a".repeat(64)).parse().unwrap();
        store
            .db
            .conn()
            .execute(
                "INSERT INTO images (id, manifest_digest, manifest_media_type, added_at) VALUES (?1, ?1, 'x', 0)",
                [image.to_string()],
            )
            .unwrap();
        for n in names {
            store
                .insert_container(&ContainerRecord {
                    id: format!("{n}-id"),
                    name: n.to_string(),
                    image_id: image.clone(),
                    config: "{}".into(),
                    status: crate::ContainerStatus::Created,
                    created_at: "2026-01-01T00:00:00Z".into(),
                    started_at: None,
                    finished_at: None,
                    pid: None,
                    monitor_pid: None,
                    exit_code: None,
                    restart_count: 0,
                })
                .unwrap();
        }
        (dir, store)
    }

    fn net(id: &str, name: &str) -> NetworkRecord {
        NetworkRecord {
            id: id.into(),
            name: name.into(),
            driver: "bridge".into(),
            config: "{}".into(),
            created_at: "2026-01-01T00:00:00Z".into(),
        }
    }

    #[test]
    fn networks_by_name_and_id() {
        let (_d, mut s) = store_with_containers(&[]);
        s.insert_network(&net("abc123", "front")).unwrap();
        s.insert_network(&net("abd456", "abc")).unwrap();
        let e = s.insert_network(&net("zzz", "front")).unwrap_err();
        assert_eq!(e.to_string(), "network with name front already exists");
        let found: Vec<String> = s
            .find_networks("abc")
            .unwrap()
            .into_iter()
            .map(|n| n.name)
            .collect();
        assert_eq!(found, ["abc", "front"]);
        assert_eq!(s.find_networks("ab").unwrap().len(), 2);
        assert_eq!(s.list_networks().unwrap().len(), 2);
    }

    #[test]
    fn leases_are_chosen_inside_the_transaction() {
        let (_d, mut s) = store_with_containers(&["web", "db"]);
        s.insert_network(&net("n1", "front")).unwrap();
        let a = s
            .lease("n1", "web-id", false, |used, last| {
                assert!(used.is_empty() && last.is_none());
                Ok::<_, StoreError>("10.213.0.2".to_string())
            })
            .unwrap();
        let b = s
            .lease("n1", "db-id", false, |used, last| {
                assert_eq!(
                    (used, last),
                    (&["10.213.0.2".to_string()][..], Some("10.213.0.2"))
                );
                Ok::<_, StoreError>("10.213.0.3".to_string())
            })
            .unwrap();
        assert_eq!((a.as_str(), b.as_str()), ("10.213.0.2", "10.213.0.3"));
        // A second lease of one address is refused by the key.
        assert!(s
            .lease("n1", "db-id", false, |_, _| Ok::<_, StoreError>(
                "10.213.0.2".into()
            ))
            .is_err());
        // In use: refused, naming the container.
        let e = s.delete_network("n1").unwrap_err();
        assert_eq!(
            e.to_string(),
            "network has active endpoints (containers: db, web)"
        );
        s.release_container_network("web-id").unwrap();
        s.release_container_network("db-id").unwrap();
        assert!(s.network_leases("n1").unwrap().is_empty());
        // The last address survives the release (serial allocation).
        s.lease("n1", "web-id", false, |_, last| {
            assert_eq!(last, Some("10.213.0.3"));
            Ok::<_, StoreError>("10.213.0.4".into())
        })
        .unwrap();
        s.delete_container("web-id").unwrap();
        assert!(s.network_leases("n1").unwrap().is_empty());
        s.delete_network("n1").unwrap();
    }

    #[test]
    fn endpoints_and_ports() {
        let (_d, mut s) = store_with_containers(&["web", "db"]);
        s.insert_network(&net("n1", "front")).unwrap();
        s.insert_network(&net("n2", "back")).unwrap();
        for (c, n, pos) in [("web-id", "n1", 0), ("web-id", "n2", 1), ("db-id", "n2", 0)] {
            s.put_endpoint(&EndpointRecord {
                container_id: c.into(),
                network_id: n.into(),
                position: pos,
                config: "{}".into(),
            })
            .unwrap();
        }
        let eps: Vec<String> = s
            .container_endpoints("web-id")
            .unwrap()
            .into_iter()
            .map(|e| e.network_id)
            .collect();
        assert_eq!(eps, ["n1", "n2"]);
        assert_eq!(s.network_endpoints("n2").unwrap().len(), 2);
        let port = |c: &str, ip: &str, p: u16| PortBindingRecord {
            container_id: c.into(),
            network_id: "n1".into(),
            protocol: "tcp".into(),
            host_ip: ip.into(),
            host_port: p,
            container_ip: "10.213.0.2".into(),
            container_port: 80,
        };
        s.add_port_bindings(&[port("web-id", "", 8080)]).unwrap();
        let e = s
            .add_port_bindings(&[port("db-id", "127.0.0.1", 8080)])
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "Bind for 127.0.0.1:8080 failed: port is already allocated"
        );
        s.add_port_bindings(&[port("db-id", "127.0.0.1", 8081)])
            .unwrap();
        assert_eq!(s.all_port_bindings().unwrap().len(), 2);
        s.delete_endpoint("web-id", "n1").unwrap();
        assert!(s.container_port_bindings("web-id").unwrap().is_empty());
        // A stopped container's connections go with its network.
        s.delete_network("n2").unwrap();
        assert!(s.container_endpoints("db-id").unwrap().is_empty());
    }
}
