//! Secrets kept as files under `<data-dir>/secrets/<name>`, carrying their
//! mode and owner. Every write goes to a staging file first and is renamed
//! into place, so a failed write leaves nothing half-written.

use std::fs::{self, Permissions};
use std::io::{self, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use slicer_core::{Secret, SecretBody};
use time::OffsetDateTime;

use crate::error::ApiError;

/// Mode of a secret created without `permissions`.
const DEFAULT_MODE: u32 = 0o600;

/// Longest secret name: a file name.
const MAX_NAME_LEN: usize = 255;

/// The secret files and the lock that serialises changes to them.
#[derive(Debug)]
pub(crate) struct SecretStore {
    dir: PathBuf,
    staging: PathBuf,
    lock: Mutex<()>,
}

impl SecretStore {
    /// A store in `dir`, staging writes in `staging` (same filesystem, so
    /// the final rename is atomic). Both must exist.
    pub fn new(dir: PathBuf, staging: PathBuf) -> Self {
        SecretStore {
            dir,
            staging,
            lock: Mutex::new(()),
        }
    }

    /// Metadata of every secret, sorted by name.
    pub fn list(&self) -> Result<Vec<Secret>, ApiError> {
        let entries =
            fs::read_dir(&self.dir).map_err(|e| ApiError::internal("cannot list secrets", e))?;
        let mut out = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| ApiError::internal("cannot list secrets", e))?;
            let Ok(name) = entry.file_name().into_string() else {
                continue;
            };
            if validate_name(&name).is_err() {
                continue;
            }
            match fs::symlink_metadata(entry.path()) {
                Ok(meta) if meta.is_file() => out.push(describe(name, &meta)),
                Ok(_) => {}
                // Deleted between read_dir and stat: not listed.
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(ApiError::internal("cannot read a secret's metadata", e)),
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// Creates a secret; 409 when the name exists.
    pub fn create(&self, body: &SecretBody) -> Result<Secret, ApiError> {
        validate_name(&body.name).map_err(ApiError::bad_request)?;
        let data = decode(&body.data)?;
        let mode = body
            .permissions
            .as_deref()
            .map(parse_mode)
            .transpose()?
            .unwrap_or(DEFAULT_MODE);
        let owner = (body.uid.unwrap_or(0), body.gid.unwrap_or(0));

        let _guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        let path = self.dir.join(&body.name);
        let staged = self.stage(&data, mode, owner)?;
        match staged.persist_noclobber(&path) {
            Ok(_) => {}
            Err(e) if e.error.kind() == io::ErrorKind::AlreadyExists => {
                return Err(ApiError::conflict(format!(
                    "secret {:?} already exists",
                    body.name
                )))
            }
            Err(e) => return Err(ApiError::internal("cannot store the secret", e.error)),
        }
        self.metadata(&body.name)
    }

    /// Updates a secret's value (unless `data` is empty), mode and owner;
    /// 404 when it does not exist.
    pub fn update(&self, name: &str, body: &SecretBody) -> Result<Secret, ApiError> {
        validate_name(name).map_err(ApiError::bad_request)?;
        if !body.name.is_empty() && body.name != name {
            return Err(ApiError::bad_request(format!(
                "cannot rename secret {name:?} to {:?}: create a new one instead",
                body.name
            )));
        }
        // An empty `data` means "unchanged": both SDKs always send the field.
        let data = (!body.data.is_empty())
            .then(|| decode(&body.data))
            .transpose()?;
        let mode = body.permissions.as_deref().map(parse_mode).transpose()?;

        let _guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        let path = self.dir.join(name);
        let meta = match fs::symlink_metadata(&path) {
            Ok(meta) if meta.is_file() => meta,
            Ok(_) => return Err(not_found(name)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(not_found(name)),
            Err(e) => return Err(ApiError::internal("cannot read the secret", e)),
        };
        let mode = mode.unwrap_or(meta.mode() & 0o777);
        let owner = (
            body.uid.unwrap_or(meta.uid()),
            body.gid.unwrap_or(meta.gid()),
        );
        match data {
            Some(data) => {
                let staged = self.stage(&data, mode, owner)?;
                staged
                    .persist(&path)
                    .map_err(|e| ApiError::internal("cannot store the secret", e.error))?;
            }
            None => {
                fs::set_permissions(&path, Permissions::from_mode(mode))
                    .map_err(|e| ApiError::internal("cannot change the secret's mode", e))?;
                set_owner(&path, owner)
                    .map_err(|e| ApiError::internal("cannot change the secret's owner", e))?;
            }
        }
        self.metadata(name)
    }

    /// Deletes a secret; 404 when it does not exist.
    pub fn delete(&self, name: &str) -> Result<(), ApiError> {
        validate_name(name).map_err(ApiError::bad_request)?;
        let _guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        match fs::remove_file(self.dir.join(name)) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Err(not_found(name)),
            Err(e) => Err(ApiError::internal("cannot delete the secret", e)),
        }
    }

    /// A secret's value, for syncing into VMs.
    #[allow(dead_code)] // Read by the guest secret sync built on this crate.
    pub fn read(&self, name: &str) -> Result<Vec<u8>, ApiError> {
        validate_name(name).map_err(ApiError::bad_request)?;
        match fs::read(self.dir.join(name)) {
            Ok(data) => Ok(data),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Err(not_found(name)),
            Err(e) => Err(ApiError::internal("cannot read the secret", e)),
        }
    }

    fn metadata(&self, name: &str) -> Result<Secret, ApiError> {
        let meta = fs::symlink_metadata(self.dir.join(name))
            .map_err(|e| ApiError::internal("cannot read the secret's metadata", e))?;
        Ok(describe(name.to_owned(), &meta))
    }

    /// Writes `data` to a staging file with its final mode and owner.
    fn stage(
        &self,
        data: &[u8],
        mode: u32,
        owner: (u32, u32),
    ) -> Result<tempfile::NamedTempFile, ApiError> {
        let write = || -> io::Result<tempfile::NamedTempFile> {
            let mut file = tempfile::NamedTempFile::new_in(&self.staging)?;
            file.write_all(data)?;
            file.as_file().sync_all()?;
            file.as_file()
                .set_permissions(Permissions::from_mode(mode))?;
            set_owner(file.path(), owner)?;
            Ok(file)
        };
        write().map_err(|e| ApiError::internal("cannot write the secret", e))
    }
}

/// Changes a file's owner. Only root may give files away, so without root
/// the file keeps the emulator's own uid and gid.
fn set_owner(path: &Path, (uid, gid): (u32, u32)) -> io::Result<()> {
    match std::os::unix::fs::chown(path, Some(uid), Some(gid)) {
        Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {
            tracing::debug!("not root: secret {} keeps its owner", path.display());
            Ok(())
        }
        other => other,
    }
}

/// The listing entry for a secret file.
fn describe(name: String, meta: &fs::Metadata) -> Secret {
    let modified_at = meta.modified().ok().map(OffsetDateTime::from);
    Secret {
        name,
        size: meta.len(),
        permissions: format!("{:04o}", meta.mode() & 0o777),
        uid: meta.uid(),
        gid: meta.gid(),
        modified_at,
    }
}

fn not_found(name: &str) -> ApiError {
    ApiError::not_found(format!("secret {name:?} not found"))
}

/// Secret names are file names: not empty, `.` or `..`, no `/` or NUL.
pub(crate) fn validate_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("the secret name is empty".to_owned());
    }
    if name == "." || name == ".." {
        return Err(format!(
            "invalid secret name {name:?}: it must be a file name"
        ));
    }
    if name.contains(['/', '\0']) {
        return Err(format!(
            "invalid secret name {name:?}: it must not contain '/' or NUL"
        ));
    }
    if name.len() > MAX_NAME_LEN {
        return Err(format!(
            "invalid secret name: longer than {MAX_NAME_LEN} bytes"
        ));
    }
    Ok(())
}

/// Decodes standard, padded base64.
fn decode(data: &str) -> Result<Vec<u8>, ApiError> {
    STANDARD.decode(data).map_err(|e| {
        ApiError::bad_request(format!(
            "invalid data: expected standard base64 with padding ({e})"
        ))
    })
}

/// Parses an octal mode such as `0600` or `644`, at most `0777`.
fn parse_mode(text: &str) -> Result<u32, ApiError> {
    let bad = || {
        ApiError::bad_request(format!(
            "invalid permissions {text:?}: expected an octal mode from 0000 to 0777, such as 0600"
        ))
    };
    if text.is_empty() || text.len() > 4 || !text.bytes().all(|b| (b'0'..=b'7').contains(&b)) {
        return Err(bad());
    }
    let mode = u32::from_str_radix(text, 8).map_err(|_| bad())?;
    if mode > 0o777 {
        return Err(bad());
    }
    Ok(mode)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, SecretStore) {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join("s")).unwrap();
        fs::create_dir(dir.path().join("staging")).unwrap();
        let store = SecretStore::new(dir.path().join("s"), dir.path().join("staging"));
        (dir, store)
    }

    fn body(name: &str, data: &str) -> SecretBody {
        SecretBody {
            name: name.into(),
            data: data.into(),
            ..Default::default()
        }
    }

    #[test]
    fn create_list_update_delete() {
        let (_dir, store) = store();
        let created = store.create(&body("api-key", "aGVsbG8=")).unwrap();
        assert_eq!((created.size, created.permissions.as_str()), (5, "0600"));
        assert!(created.modified_at.is_some());
        let err = store.create(&body("api-key", "")).unwrap_err();
        assert_eq!(err.status, 409);

        let mut change = body("", "");
        change.permissions = Some("0640".into());
        let updated = store.update("api-key", &change).unwrap();
        assert_eq!((updated.size, updated.permissions.as_str()), (5, "0640"));
        assert_eq!(store.read("api-key").unwrap(), b"hello");

        let updated = store.update("api-key", &body("", "YWI=")).unwrap();
        assert_eq!((updated.size, updated.permissions.as_str()), (2, "0640"));
        assert_eq!(store.list().unwrap().len(), 1);
        assert!(
            fs::read_dir(&store.staging).unwrap().next().is_none(),
            "no staging leftovers"
        );

        store.delete("api-key").unwrap();
        assert_eq!(store.delete("api-key").unwrap_err().status, 404);
        assert_eq!(
            store.update("api-key", &body("", "")).unwrap_err().status,
            404
        );
        assert!(store.list().unwrap().is_empty());
    }

    #[test]
    fn bad_input() {
        let (_dir, store) = store();
        for name in ["", ".", "..", "a/b", "a\0b"] {
            assert_eq!(
                store.create(&body(name, "")).unwrap_err().status,
                400,
                "{name:?}"
            );
        }
        for data in ["aGVsbG8", "a!==", "aGVsbG8=\n"] {
            let err = store.create(&body("k", data)).unwrap_err();
            assert!(err.message.contains("base64"), "{data:?}: {err}");
        }
        for mode in ["", "0800", "1777", "rw", "00600", "-1"] {
            let mut b = body("k", "");
            b.permissions = Some(mode.into());
            assert!(
                store
                    .create(&b)
                    .unwrap_err()
                    .message
                    .contains("permissions"),
                "{mode:?}"
            );
        }
        store.create(&body("k", "")).unwrap();
        assert!(store
            .update("k", &body("other", ""))
            .unwrap_err()
            .message
            .contains("rename"));
        assert!(store.list().unwrap()[0].size == 0);
    }
}
