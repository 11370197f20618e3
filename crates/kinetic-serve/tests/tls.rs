//! `kinetic serve` over TLS, against the emulator in process, through tokio-postgres over rustls
//! (a TLS client independent of this server's code): a client that trusts the generated local CA
//! signs in and queries, by the PostgreSQL negotiation (`SSLRequest`) and by direct TLS with
//! PostgreSQL's ALPN name (libpq 17's `sslnegotiation=direct`); a client that does not trust it
//! is refused by its own verification; the operator's certificate files serve, and bad ones are
//! errors naming the file; without TLS only loopback addresses are listened on. Nothing leaves
//! 127.0.0.1 (the one `0.0.0.0` bind is dropped unserved).

use epicor_kinetic::settings::Settings;
use epicor_kinetic_emulator::{EmulatorConfig, RunningEmulator};
use epicor_kinetic_serve::{Options, Server};
use epicor_kinetic_tls::rustls;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use std::path::Path;
use std::sync::Arc;
use tokio_postgres::{Client, SimpleQueryMessage};
use tokio_postgres_rustls::MakeRustlsConnect;

async fn emulator() -> RunningEmulator {
    epicor_kinetic_emulator::spawn(
        EmulatorConfig {
            scale: 300,
            ..Default::default()
        },
        "127.0.0.1:0",
    )
    .await
    .unwrap_or_else(|e| panic!("emulator: {e}"))
}

/// Read-only options whose upstream is the emulator's Basic connection (each session's user
/// and password replace its own), without TLS.
fn options(emu: &RunningEmulator) -> Options {
    let text = emu.startup_info()["connection_strings"]["basic"]
        .as_str()
        .unwrap()
        .to_owned();
    Options {
        upstream: Settings::parse(&text).unwrap(),
        allow_writes: false,
        max_sessions: 4,
        tls: None,
        auth: Default::default(),
    }
}

/// Options for binding only (nothing is asked of the upstream).
fn unserved_options() -> Options {
    Options {
        upstream: Settings::parse(
            "URL=https://erp.example.com;ERPInstance=Kinetic;User=u;Password=p",
        )
        .unwrap(),
        allow_writes: false,
        max_sessions: 1,
        tls: None,
        auth: Default::default(),
    }
}

/// The server bound to 127.0.0.1 with `options` and serving: its port and the certificate to
/// trust.
async fn serve(options: Options) -> (u16, std::path::PathBuf) {
    let server = Server::bind("127.0.0.1:0", options)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let port = server.local_addr().port();
    let cert = server
        .tls_cert()
        .expect("TLS is on: a certificate to trust")
        .to_owned();
    tokio::spawn(server.run());
    (port, cert)
}

/// A rustls client configuration (ring) trusting the certificates of `trusted` PEM files.
fn client_config(trusted: &[&Path], alpn: &[&[u8]]) -> rustls::ClientConfig {
    let mut roots = rustls::RootCertStore::empty();
    for path in trusted {
        for cert in CertificateDer::pem_file_iter(path).unwrap() {
            roots.add(cert.unwrap()).unwrap();
        }
    }
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    config
}

/// Signs in over TLS (`sslmode=require`: the client's configuration verifies the certificate
/// and the host name) with `extra` connection parameters.
async fn connect(
    host: &str,
    port: u16,
    password: &str,
    extra: &str,
    tls: rustls::ClientConfig,
) -> Result<Client, tokio_postgres::Error> {
    let (client, connection) = tokio_postgres::connect(
        &format!(
            "host={host} port={port} user=manager password={password} dbname=kinetic \
             sslmode=require {extra}"
        ),
        MakeRustlsConnect::new(tls),
    )
    .await?;
    tokio::spawn(connection);
    Ok(client)
}

/// The one value of a simple query's one row.
async fn value(client: &Client, sql: &str) -> String {
    client
        .simple_query(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .into_iter()
        .find_map(|m| match m {
            SimpleQueryMessage::Row(r) => r.get(0).map(str::to_owned),
            _ => None,
        })
        .unwrap_or_else(|| panic!("{sql}: no row"))
}

fn customers(emu: &RunningEmulator) -> String {
    let db = rusqlite::Connection::open(&emu.report().path).unwrap();
    epicor_kinetic_emulator::collation::register(&db).unwrap();
    db.query_row(
        "SELECT COUNT(*) FROM Customer WHERE Company = 'EPIC06'",
        [],
        |r| r.get::<_, i64>(0),
    )
    .unwrap()
    .to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_client_that_trusts_the_local_ca_signs_in_over_tls() {
    let emu = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    let ca_out = dir.path().join("certs/serve-ca.pem");
    let (port, trusted) = serve(options(&emu).with_local_ca(&ca_out)).await;
    assert_eq!(trusted, ca_out);
    let pem = std::fs::read_to_string(&ca_out).unwrap();
    assert!(
        !pem.contains("PRIVATE KEY"),
        "only the CA's certificate is written"
    );
    let expected = customers(&emu);

    // PostgreSQL's own negotiation (SSLRequest first), by address and by name.
    for host in ["127.0.0.1", "localhost"] {
        let client = connect(host, port, "Epicor123!", "", client_config(&[&ca_out], &[]))
            .await
            .unwrap_or_else(|e| panic!("{host}: {e:?}"));
        assert_eq!(
            value(&client, "SELECT COUNT(*) FROM Customers").await,
            expected,
            "{host}"
        );
    }
    // Direct TLS, as libpq 17 with sslnegotiation=direct: it offers only PostgreSQL's ALPN
    // name, which the server must choose.
    let client = connect(
        "127.0.0.1",
        port,
        "Epicor123!",
        "sslnegotiation=direct",
        client_config(&[&ca_out], &[b"postgresql"]),
    )
    .await
    .unwrap_or_else(|e| panic!("direct: {e:?}"));
    assert_eq!(
        value(&client, "SELECT COUNT(*) FROM Customers").await,
        expected
    );
    // The password is still checked, and refused as PostgreSQL words it.
    let Err(e) = connect(
        "127.0.0.1",
        port,
        "wrong",
        "",
        client_config(&[&ca_out], &[]),
    )
    .await
    else {
        panic!("a wrong password was accepted");
    };
    assert_eq!(
        e.as_db_error().map(|d| d.code().code()),
        Some("28P01"),
        "{e:?}"
    );
    // On this machine a client without TLS may still sign in: nothing crosses a network.
    let (plain, connection) = tokio_postgres::connect(
        &format!("host=127.0.0.1 port={port} user=manager password=Epicor123! dbname=kinetic"),
        tokio_postgres::NoTls,
    )
    .await
    .unwrap();
    tokio::spawn(connection);
    assert_eq!(value(&plain, "SELECT 1 AS one").await, "1");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_client_that_does_not_trust_the_ca_is_refused_by_its_own_verification() {
    let emu = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    let ca_out = dir.path().join("serve-ca.pem");
    let (port, _) = serve(options(&emu).with_local_ca(&ca_out)).await;

    // Trusting nothing, or another local CA (a second server's, made the same way).
    let other = dir.path().join("other-ca.pem");
    let _other = Server::bind("127.0.0.1:0", options(&emu).with_local_ca(&other))
        .await
        .unwrap();
    for trusted in [&[][..], &[other.as_path()][..]] {
        let Err(e) = connect(
            "127.0.0.1",
            port,
            "Epicor123!",
            "",
            client_config(trusted, &[]),
        )
        .await
        else {
            panic!("trusting {trusted:?}, the client accepted the server's certificate");
        };
        assert!(e.as_db_error().is_none(), "refused by the client: {e:?}");
        let text = format!("{e} {:?}", std::error::Error::source(&e)).to_lowercase();
        assert!(text.contains("certificate"), "{text}");
    }
    // The generated certificate names this machine only: another name (reached at
    // 127.0.0.1 all the same) is refused.
    let Err(e) = connect(
        "db.example.com",
        port,
        "Epicor123!",
        "hostaddr=127.0.0.1",
        client_config(&[&ca_out], &[]),
    )
    .await
    else {
        panic!("a name the certificate does not hold was accepted");
    };
    assert!(e.as_db_error().is_none(), "{e:?}");
    let text = format!("{e} {:?}", std::error::Error::source(&e)).to_lowercase();
    assert!(text.contains("certificate"), "{text}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_operators_certificate_serves_and_bad_files_are_named() {
    let emu = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["127.0.0.1".to_string()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let (cert_path, key_path) = (dir.path().join("server.crt"), dir.path().join("server.key"));
    std::fs::write(&cert_path, cert.pem()).unwrap();
    std::fs::write(&key_path, key.serialize_pem()).unwrap();

    let (port, trusted) = serve(options(&emu).with_tls_files(&cert_path, &key_path)).await;
    assert_eq!(trusted, cert_path, "clients trust the given certificate");
    let client = connect(
        "127.0.0.1",
        port,
        "Epicor123!",
        "",
        client_config(&[&cert_path], &[]),
    )
    .await
    .unwrap();
    assert_eq!(
        value(&client, "SELECT COUNT(*) FROM Customers").await,
        customers(&emu)
    );

    let missing = dir.path().join("missing.pem");
    let other_key = dir.path().join("other.key");
    std::fs::write(
        &other_key,
        rcgen::KeyPair::generate().unwrap().serialize_pem(),
    )
    .unwrap();
    for (cert, key, named, why) in [
        (
            &missing,
            &key_path,
            &missing,
            "cannot read the TLS certificate",
        ),
        (
            &cert_path,
            &missing,
            &missing,
            "cannot read the TLS private key",
        ),
        (&key_path, &key_path, &key_path, "holds no certificate"),
        (&cert_path, &cert_path, &cert_path, "holds no private key"),
        (&cert_path, &other_key, &other_key, "do not go together"),
    ] {
        let Err(e) =
            Server::bind("127.0.0.1:0", unserved_options().with_tls_files(cert, key)).await
        else {
            panic!("{cert:?} and {key:?} were accepted");
        };
        assert!(e.contains(why), "{e}");
        assert!(e.contains(&named.display().to_string()), "{e}");
    }
    // A CA that cannot be written: where it was to go.
    let blocked = cert_path.join("ca.pem");
    let Err(e) = Server::bind("127.0.0.1:0", unserved_options().with_local_ca(&blocked)).await
    else {
        panic!("a CA under a file was written");
    };
    assert!(e.contains(&cert_path.display().to_string()), "{e}");
}

#[tokio::test]
async fn any_address_with_tls_loopback_only_without() {
    let Err(e) = Server::bind("0.0.0.0:0", unserved_options()).await else {
        panic!("a non-loopback address was accepted without TLS");
    };
    assert!(e.contains("not a loopback address"), "{e}");
    assert!(e.contains("--tls"), "says what to do: {e}");
    let Err(e) = Server::bind("[::]:0", unserved_options()).await else {
        panic!("a non-loopback address was accepted without TLS");
    };
    assert!(e.contains("not a loopback address"), "{e}");

    let dir = tempfile::tempdir().unwrap();
    let server = Server::bind(
        "0.0.0.0:0",
        unserved_options().with_local_ca(dir.path().join("ca.pem")),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    assert!(server.local_addr().ip().is_unspecified());
    assert_eq!(server.tls_cert(), Some(dir.path().join("ca.pem").as_path()));
    // Dropped unserved: nothing is accepted from outside.
    drop(server);

    let plain = Server::bind("127.0.0.1:0", unserved_options())
        .await
        .unwrap();
    assert_eq!(plain.tls_cert(), None);
}
