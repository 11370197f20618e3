//! HTTPS: a generated local CA (written where asked) or a given certificate; plain clients without the
//! certificate are refused by their own verification.

use super::*;

async fn https_get(
    url: &str,
    trust: Option<&std::path::Path>,
) -> Result<reqwest::Response, reqwest::Error> {
    let mut b = reqwest::Client::builder();
    if let Some(path) = trust {
        b = b.add_root_certificate(
            reqwest::Certificate::from_pem(&std::fs::read(path).unwrap()).unwrap(),
        );
    }
    b.build()
        .unwrap()
        .get(url)
        .header("authorization", BASIC_MANAGER)
        .send()
        .await
}

#[tokio::test]
async fn serves_https_with_a_generated_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("certs/emulator-ca.pem");
    let mut config = EmulatorConfig {
        scale: 100,
        ..EmulatorConfig::default()
    };
    config.tls.enabled = true;
    config.tls.cert_out = Some(out.clone());
    let running = epicor_kinetic_emulator::spawn(config, "127.0.0.1:0")
        .await
        .unwrap();
    assert!(running.url().starts_with("https://127.0.0.1:"));
    assert_eq!(running.tls_cert(), Some(out.as_path()));
    let info = running.startup_info();
    assert_eq!(info["tls_cert"], out.display().to_string());
    assert!(info["connection_strings"]["basic"]
        .as_str()
        .unwrap()
        .contains("SSLServerCert="));
    let url = format!("{}api/v1/Erp.BO.PartSvc/Parts?$top=1", running.base_url());
    let ok = https_get(&url, Some(&out)).await.unwrap();
    assert_eq!(ok.status(), 200);
    let body: Value = ok.json().await.unwrap();
    assert!(
        body["odata.metadata"]
            .as_str()
            .unwrap()
            .starts_with("https://"),
        "answers name https: {body}"
    );
    // Over localhost too (the certificate names it).
    let local = url.replace("127.0.0.1", "localhost");
    assert_eq!(https_get(&local, Some(&out)).await.unwrap().status(), 200);
    // Without the certificate, the client's verification refuses the server.
    let err = https_get(&url, None).await.unwrap_err();
    assert!(err.is_connect(), "{err:?}");
    // Plain http to the https port gets no answer.
    assert!(
        https_get(&url.replace("https://", "http://"), None)
            .await
            .map(|r| r.status().as_u16())
            .unwrap_or(0)
            != 200
    );
    running.shutdown().await;
}

#[tokio::test]
async fn serves_https_with_a_given_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["127.0.0.1".to_string()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let (cert_path, key_path) = (dir.path().join("c.pem"), dir.path().join("k.pem"));
    std::fs::write(&cert_path, cert.pem()).unwrap();
    std::fs::write(&key_path, key.serialize_pem()).unwrap();
    let mut config = EmulatorConfig {
        scale: 100,
        ..EmulatorConfig::default()
    };
    config.tls.enabled = true;
    config.tls.cert = Some(cert_path.clone());
    config.tls.key = Some(key_path.clone());
    let running = epicor_kinetic_emulator::spawn(config.clone(), "127.0.0.1:0")
        .await
        .unwrap();
    let url = format!("{}api/v1/", running.base_url());
    assert_eq!(
        https_get(&url, Some(&cert_path)).await.unwrap().status(),
        200
    );
    running.shutdown().await;
    // A key that does not match the certificate is a clear start-up error.
    let other = rcgen::KeyPair::generate().unwrap();
    std::fs::write(&key_path, other.serialize_pem()).unwrap();
    let err = epicor_kinetic_emulator::spawn(config.clone(), "127.0.0.1:0")
        .await
        .err()
        .expect("refused");
    assert!(err.to_string().contains("do not go together"), "{err}");
    config.tls.key = Some(dir.path().join("missing.pem"));
    let err = epicor_kinetic_emulator::spawn(config, "127.0.0.1:0")
        .await
        .err()
        .expect("refused");
    assert!(
        err.to_string().contains("cannot read the TLS private key"),
        "{err}"
    );
}
