//! Link secrets: one sealed secret per channel link, replaced on change, removed on request.

use hazel_domain::ids::ChannelLinkId;
use hazel_domain::model::chat_sync::SealedLinkSecret;
use hazel_domain::ports::LinkSecretStore as _;

use crate::support::each_backend;

#[tokio::test]
async fn a_links_sealed_secret_is_kept_replaced_and_removed_alone() {
    each_backend(|db| async move {
        let (link, other) = (ChannelLinkId::new(), ChannelLinkId::new());
        assert_eq!(db.sealed(link).await.unwrap(), None);

        db.put(link, SealedLinkSecret::from_bytes(vec![1, 2, 3]))
            .await
            .unwrap();
        db.put(other, SealedLinkSecret::from_bytes(vec![9]))
            .await
            .unwrap();
        assert_eq!(
            db.sealed(link).await.unwrap(),
            Some(SealedLinkSecret::from_bytes(vec![1, 2, 3]))
        );

        // A new webhook replaces the old one.
        db.put(link, SealedLinkSecret::from_bytes(vec![4, 0, 255]))
            .await
            .unwrap();
        assert_eq!(
            db.sealed(link).await.unwrap(),
            Some(SealedLinkSecret::from_bytes(vec![4, 0, 255]))
        );

        db.remove(link).await.unwrap();
        assert_eq!(db.sealed(link).await.unwrap(), None);
        assert_eq!(
            db.sealed(other).await.unwrap(),
            Some(SealedLinkSecret::from_bytes(vec![9]))
        );
        // Removing what is not there is no error.
        db.remove(link).await.unwrap();
    })
    .await;
}
