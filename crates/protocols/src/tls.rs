//! TLS with rustls: loading certificates and keys (PEM: PKCS#8, PKCS#1 RSA and SEC1 EC keys, and
//! password-protected PKCS#8), client certificate checking, cipher selection and ALPN.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::crypto::ring::{default_provider, ALL_CIPHER_SUITES};
use rustls::crypto::CryptoProvider;
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig, SupportedCipherSuite};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// Whether clients must present certificates (`--ssl-cert-reqs`: 0, 1, 2 as in Python's `ssl`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    /// Do not ask for a certificate.
    None,
    /// Ask, and verify one if given.
    Optional,
    /// Refuse clients without a valid certificate.
    Required,
}

/// The TLS settings from the command line.
#[derive(Debug, Clone)]
pub struct TlsOptions {
    /// `--ssl-certfile`: the certificate chain, leaf first.
    pub certfile: PathBuf,
    /// `--ssl-keyfile`: the private key; when absent the key is read from the certificate file.
    pub keyfile: Option<PathBuf>,
    /// `--ssl-keyfile-password`.
    pub password: Option<String>,
    /// `--ssl-ca-certs`: CAs that client certificates must chain to.
    pub ca_certs: Option<PathBuf>,
    /// `--ssl-cert-reqs`.
    pub client_auth: ClientAuth,
    /// `--ssl-ciphers`: a colon-separated list (OpenSSL or IANA names), or `TLSv1`/`DEFAULT`/`ALL` for
    /// every suite rustls implements.
    pub ciphers: Option<String>,
    /// `--ssl-version`: which TLS versions are offered.
    pub versions: TlsVersions,
}

/// The TLS protocol versions a server offers. rustls implements TLS 1.2 and 1.3 only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TlsVersions {
    /// TLS 1.2 and TLS 1.3, negotiated (Python's `PROTOCOL_TLS_SERVER`, uvicorn's default).
    #[default]
    Negotiated,
    /// TLS 1.2 only (Python's `PROTOCOL_TLSv1_2`).
    Tls12Only,
}

/// TLS could not be set up. Every message names the file or value at fault.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file could not be read or parsed as PEM.
    #[error("{path}: {reason}")]
    File {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// `--ssl-ciphers` named nothing usable.
    #[error("--ssl-ciphers: {0}")]
    Ciphers(String),
    /// rustls refused the combination.
    #[error("TLS configuration: {0}")]
    Config(String),
}

fn file_error(path: &Path, reason: impl Into<String>) -> TlsError {
    TlsError::File { path: path.to_path_buf(), reason: reason.into() }
}

/// Builds the rustls configuration, offering `alpn` protocols in order.
pub fn server_config(options: &TlsOptions, alpn: &[&[u8]]) -> Result<Arc<ServerConfig>, TlsError> {
    let certs = load_certs(&options.certfile)?;
    let key_path = options.keyfile.as_deref().unwrap_or(&options.certfile);
    let key = load_key(key_path, options.password.as_deref())?;
    let provider =
        Arc::new(CryptoProvider { cipher_suites: cipher_suites(options.ciphers.as_deref())?, ..default_provider() });
    let versions: &[&'static rustls::SupportedProtocolVersion] = match options.versions {
        TlsVersions::Negotiated => rustls::DEFAULT_VERSIONS,
        TlsVersions::Tls12Only => &[&rustls::version::TLS12],
    };
    let builder = ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_protocol_versions(versions)
        .map_err(|e| TlsError::Config(e.to_string()))?;
    let builder = match (&options.ca_certs, options.client_auth) {
        (_, ClientAuth::None) => builder.with_no_client_auth(),
        (None, _) => {
            return Err(TlsError::Config(
                "--ssl-cert-reqs 1 or 2 needs --ssl-ca-certs to verify clients against".into(),
            ))
        }
        (Some(ca), auth) => {
            let mut roots = RootCertStore::empty();
            for cert in load_certs(ca)? {
                roots.add(cert).map_err(|e| file_error(ca, format!("unusable CA certificate: {e}")))?;
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
            let verifier = if auth == ClientAuth::Optional { verifier.allow_unauthenticated() } else { verifier };
            builder.with_client_cert_verifier(verifier.build().map_err(|e| TlsError::Config(e.to_string()))?)
        }
    };
    let mut config = builder
        .with_single_cert(certs, key)
        .map_err(|e| file_error(key_path, format!("the key does not fit the certificate: {e}")))?;
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Ok(Arc::new(config))
}

fn load_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let pem = std::fs::read(path).map_err(|e| file_error(path, e.to_string()))?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| file_error(path, format!("not a valid PEM certificate file: {e}")))?;
    if certs.is_empty() {
        return Err(file_error(path, "no certificate found (expected PEM \"BEGIN CERTIFICATE\" blocks)"));
    }
    Ok(certs)
}

fn load_key(path: &Path, password: Option<&str>) -> Result<PrivateKeyDer<'static>, TlsError> {
    let pem = std::fs::read(path).map_err(|e| file_error(path, e.to_string()))?;
    let text = String::from_utf8_lossy(&pem);
    if text.contains("Proc-Type: 4,ENCRYPTED") {
        return Err(file_error(
            path,
            "legacy OpenSSL-encrypted keys are not supported; convert with `openssl pkcs8 -topk8 -in KEY -out NEW.pem`",
        ));
    }
    if text.contains("BEGIN ENCRYPTED PRIVATE KEY") {
        let Some(password) = password else {
            return Err(file_error(path, "the key is encrypted; pass --ssl-keyfile-password"));
        };
        return decrypt_pkcs8(path, &text, password);
    }
    PrivateKeyDer::from_pem_slice(&pem)
        .map_err(|e| file_error(path, format!("no usable private key (PKCS#8, PKCS#1 RSA or SEC1 EC PEM): {e}")))
}

fn decrypt_pkcs8(path: &Path, text: &str, password: &str) -> Result<PrivateKeyDer<'static>, TlsError> {
    use pkcs8::der::Decode;
    let (label, der) =
        pkcs8::der::pem::decode_vec(text.trim().as_bytes()).map_err(|e| file_error(path, format!("bad PEM: {e}")))?;
    if label != "ENCRYPTED PRIVATE KEY" {
        return Err(file_error(path, format!("expected an ENCRYPTED PRIVATE KEY block, found {label}")));
    }
    let info = pkcs8::EncryptedPrivateKeyInfo::from_der(&der).map_err(|e| file_error(path, format!("bad key: {e}")))?;
    let plain = info.decrypt(password).map_err(|_| file_error(path, "wrong password for the encrypted key"))?;
    Ok(PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(plain.as_bytes().to_vec())))
}

/// The OpenSSL spellings of the suites rustls implements, next to the IANA ones rustls uses.
const OPENSSL_NAMES: &[(&str, &str)] = &[
    ("TLS_AES_128_GCM_SHA256", "TLS13_AES_128_GCM_SHA256"),
    ("TLS_AES_256_GCM_SHA384", "TLS13_AES_256_GCM_SHA384"),
    ("TLS_CHACHA20_POLY1305_SHA256", "TLS13_CHACHA20_POLY1305_SHA256"),
    ("ECDHE-ECDSA-AES128-GCM-SHA256", "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"),
    ("ECDHE-ECDSA-AES256-GCM-SHA384", "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384"),
    ("ECDHE-ECDSA-CHACHA20-POLY1305", "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256"),
    ("ECDHE-RSA-AES128-GCM-SHA256", "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"),
    ("ECDHE-RSA-AES256-GCM-SHA384", "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384"),
    ("ECDHE-RSA-CHACHA20-POLY1305", "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256"),
];

fn cipher_suites(spec: Option<&str>) -> Result<Vec<SupportedCipherSuite>, TlsError> {
    let all = ALL_CIPHER_SUITES.to_vec();
    let Some(spec) = spec.map(str::trim).filter(|s| !s.is_empty()) else { return Ok(all) };
    if ["TLSv1", "TLSv1.2", "DEFAULT", "ALL", "HIGH"].iter().any(|k| k.eq_ignore_ascii_case(spec)) {
        return Ok(all);
    }
    let mut chosen = Vec::new();
    for name in spec.split(':').map(str::trim).filter(|n| !n.is_empty()) {
        let iana =
            OPENSSL_NAMES.iter().find(|(openssl, _)| openssl.eq_ignore_ascii_case(name)).map_or(name, |(_, i)| i);
        let suite = all.iter().find(|s| format!("{:?}", s.suite()).eq_ignore_ascii_case(iana)).ok_or_else(|| {
            let known: Vec<String> = all.iter().map(|s| format!("{:?}", s.suite())).collect();
            TlsError::Ciphers(format!(
                "{name:?} is not a cipher suite rustls supports; supported: {}",
                known.join(", ")
            ))
        })?;
        if !chosen.iter().any(|s: &SupportedCipherSuite| s.suite() == suite.suite()) {
            chosen.push(*suite);
        }
    }
    Ok(chosen)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cipher_names_in_both_spellings() {
        let suites = cipher_suites(Some("ECDHE-RSA-AES128-GCM-SHA256:TLS_AES_256_GCM_SHA384")).unwrap();
        assert_eq!(suites.len(), 2);
        assert_eq!(cipher_suites(Some("TLSv1")).unwrap().len(), ALL_CIPHER_SUITES.len());
        let err = cipher_suites(Some("RC4-MD5")).unwrap_err().to_string();
        assert!(err.contains("RC4-MD5"), "{err}");
    }

    #[test]
    fn missing_files_are_named() {
        let options = TlsOptions {
            certfile: "/nonexistent/cert.pem".into(),
            keyfile: None,
            password: None,
            ca_certs: None,
            client_auth: ClientAuth::None,
            ciphers: None,
            versions: TlsVersions::default(),
        };
        let err = server_config(&options, &[]).unwrap_err().to_string();
        assert!(err.contains("/nonexistent/cert.pem"), "{err}");
    }
}
