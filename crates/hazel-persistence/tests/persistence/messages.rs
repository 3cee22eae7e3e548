//! Messages with their authors and reactions.

use hazel_domain::ids::MessageId;
use hazel_domain::model::message::{Attachment, MessageContent, ReactionSummary};
use hazel_domain::model::page::PageRequest;
use hazel_domain::model::text::Url;
use hazel_domain::ports::{Change, ChangeOutcome, MessageRepository};

use crate::support::{
    World, commit, each_backend, emoji, message, name, opaque, reaction, shadow_member,
};

#[tokio::test]
async fn messages_round_trip_with_attachments_parents_and_times() {
    each_backend(|db| async move {
        let world = World::create(&db).await;
        let parent = message(world.channel.id, world.owner.id, "parent");
        let mut reply = message(world.channel.id, world.owner.id, "");
        reply.parent_message_id = Some(parent.id);
        reply.attachments = vec![
            Attachment {
                url: Url::parse("url", "https://files.example/a.png").unwrap(),
                name: name("a.png"),
                content_type: Some(opaque("image/png")),
            },
            Attachment {
                url: Url::parse("url", "https://files.example/b").unwrap(),
                name: name("b"),
                content_type: None,
            },
        ];
        // A timestamp with microseconds and a non-UTC offset reads back as the same instant.
        reply.edited_at = Some(time::macros::datetime!(2026-03-04 05:06:07.123456 +02:00));
        commit(
            &db,
            vec![
                Change::InsertMessage(parent.clone()),
                Change::InsertMessage(reply.clone()),
            ],
        )
        .await;

        assert_eq!(
            MessageRepository::find(&db, parent.id)
                .await
                .unwrap()
                .as_ref(),
            Some(&parent)
        );
        let read = MessageRepository::find(&db, reply.id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(read, reply);
        assert_eq!(read.edited_at.unwrap().offset(), time::UtcOffset::UTC);
        assert_eq!(
            MessageRepository::find(&db, MessageId::new())
                .await
                .unwrap(),
            None
        );
    })
    .await;
}

#[tokio::test]
async fn views_carry_the_author_and_summarised_reactions() {
    each_backend(|db| async move {
        let world = World::create(&db).await;
        let (_, bob) = world.add_member(&db, "bob").await;
        let shadow = shadow_member(world.organization.id, "U7");
        let synced = message(world.channel.id, shadow.id, "from slack");
        let local = message(world.channel.id, world.owner.id, "local");
        let reactions = vec![
            reaction(synced.id, bob.id, "👍"),
            reaction(synced.id, world.owner.id, ":tada:"),
            reaction(synced.id, world.owner.id, "👍"),
        ];
        let mut changes = vec![
            Change::InsertMember(shadow.clone()),
            Change::InsertMessage(synced.clone()),
            Change::InsertMessage(local.clone()),
        ];
        changes.extend(reactions.iter().cloned().map(Change::InsertReaction));
        commit(&db, changes).await;

        let view = db.view(synced.id).await.unwrap().unwrap();
        assert_eq!(view.message, synced);
        assert_eq!(view.author, shadow);
        assert_eq!(view.reactions, ReactionSummary::summarize(&reactions));
        assert_eq!(view.reactions[0].emoji, emoji("👍"));
        assert_eq!(view.reactions[0].member_ids, vec![bob.id, world.owner.id]);

        let page = MessageRepository::list(&db, world.channel.id, &PageRequest::default())
            .await
            .unwrap();
        let ids: Vec<MessageId> = page.items.iter().map(|v| v.message.id).collect();
        assert_eq!(ids, vec![local.id, synced.id], "newest first");
        assert_eq!(page.items[0].author, world.owner);
        assert!(page.items[0].reactions.is_empty());
        assert_eq!(page.items[1].reactions, view.reactions);
        assert_eq!(db.view(MessageId::new()).await.unwrap(), None);
    })
    .await;
}

#[tokio::test]
async fn edits_and_deletes_change_live_messages_and_deleted_ones_leave_the_list() {
    each_backend(|db| async move {
        let world = World::create(&db).await;
        let kept = message(world.channel.id, world.owner.id, "kept");
        let doomed = message(world.channel.id, world.owner.id, "doomed");
        commit(
            &db,
            vec![
                Change::InsertMessage(kept.clone()),
                Change::InsertMessage(doomed.clone()),
            ],
        )
        .await;

        let mut edited = kept.clone();
        edited.content = MessageContent::parse("content", "edited").unwrap();
        edited.edited_at = Some(crate::support::now());
        let mut deleted = doomed.clone();
        deleted.deleted_at = Some(crate::support::now());
        let committed = commit(
            &db,
            vec![
                Change::EditMessage {
                    id: kept.id,
                    content: edited.content.clone(),
                    edited_at: edited.edited_at.unwrap(),
                },
                Change::DeleteMessage {
                    id: doomed.id,
                    at: deleted.deleted_at.unwrap(),
                },
                Change::DeleteMessage {
                    id: MessageId::new(),
                    at: crate::support::now(),
                },
            ],
        )
        .await;
        assert_eq!(
            committed.outcomes,
            vec![
                ChangeOutcome::Affected(1),
                ChangeOutcome::Affected(1),
                ChangeOutcome::Affected(0)
            ]
        );

        assert_eq!(
            MessageRepository::find(&db, kept.id)
                .await
                .unwrap()
                .as_ref(),
            Some(&edited)
        );
        // A deleted message can still be read by id, but is no longer listed.
        assert_eq!(
            MessageRepository::find(&db, doomed.id)
                .await
                .unwrap()
                .as_ref(),
            Some(&deleted)
        );
        assert_eq!(db.view(doomed.id).await.unwrap().unwrap().message, deleted);
        let page = MessageRepository::list(&db, world.channel.id, &PageRequest::default())
            .await
            .unwrap();
        let ids: Vec<MessageId> = page.items.iter().map(|v| v.message.id).collect();
        assert_eq!(ids, vec![kept.id]);
    })
    .await;
}

#[tokio::test]
async fn an_edit_or_delete_after_a_delete_matches_nothing_and_never_resurrects() {
    each_backend(|db| async move {
        let world = World::create(&db).await;
        let original = message(world.channel.id, world.owner.id, "original");
        let mut deleted = original.clone();
        deleted.deleted_at = Some(crate::support::now());
        commit(
            &db,
            vec![
                Change::InsertMessage(original.clone()),
                Change::DeleteMessage {
                    id: original.id,
                    at: deleted.deleted_at.unwrap(),
                },
            ],
        )
        .await;

        // An edit that read the message before the delete committed.
        let later = crate::support::now() + time::Duration::seconds(5);
        let committed = commit(
            &db,
            vec![
                Change::EditMessage {
                    id: original.id,
                    content: MessageContent::parse("content", "too late").unwrap(),
                    edited_at: later,
                },
                Change::DeleteMessage {
                    id: original.id,
                    at: later,
                },
            ],
        )
        .await;
        assert_eq!(
            committed.outcomes,
            vec![ChangeOutcome::Affected(0), ChangeOutcome::Affected(0)]
        );
        assert_eq!(
            MessageRepository::find(&db, original.id)
                .await
                .unwrap()
                .as_ref(),
            Some(&deleted),
            "still deleted, at the first deletion time, with its text unchanged"
        );
    })
    .await;
}
