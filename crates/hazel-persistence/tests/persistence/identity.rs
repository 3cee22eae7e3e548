//! Users, tokens, organizations, members and channels read back as written.

use hazel_domain::ids::{ApiTokenId, MemberId};
use hazel_domain::model::channel::ChannelKind;
use hazel_domain::model::identity::{ApiToken, MemberProfile, Role, TokenSecret};
use hazel_domain::model::page::PageRequest;
use hazel_domain::ports::{
    Change, ChannelRepository, MemberRepository, OrganizationRepository, UserRepository,
};

use hazel_persistence::Database;

use crate::support::{
    World, channel, commit, each_backend, each_backend_url, migrated, name, native_member,
    organization, shadow_member, uuid_suffix,
};

#[tokio::test]
async fn users_are_found_by_email_and_by_token() {
    each_backend(|db| async move {
        let World { user, .. } = World::create(&db).await;
        let secret = TokenSecret::generate();
        let token = ApiToken {
            id: ApiTokenId::new(),
            user_id: user.id,
            hash: secret.hash(),
            created_at: crate::support::now(),
        };
        commit(&db, vec![Change::InsertApiToken(token)]).await;

        assert_eq!(
            db.find_by_email(&user.email).await.unwrap().as_ref(),
            Some(&user)
        );
        assert_eq!(
            db.find_by_token(&secret.hash()).await.unwrap().as_ref(),
            Some(&user)
        );
        assert_eq!(
            db.find_by_token(&TokenSecret::generate().hash())
                .await
                .unwrap(),
            None
        );
        let stranger = hazel_domain::model::text::Email::parse("e", "nobody@example.com").unwrap();
        assert_eq!(db.find_by_email(&stranger).await.unwrap(), None);
    })
    .await;
}

#[tokio::test]
async fn organizations_are_listed_for_their_members_only() {
    each_backend(|db| async move {
        let world = World::create(&db).await;
        let second = organization(&format!("second-{}", uuid_suffix()));
        let unrelated = organization(&format!("unrelated-{}", uuid_suffix()));
        commit(
            &db,
            vec![
                Change::InsertOrganization(second.clone()),
                Change::InsertMember(native_member(second.id, &world.user, Role::Member)),
                Change::InsertOrganization(unrelated.clone()),
            ],
        )
        .await;

        assert_eq!(
            OrganizationRepository::find(&db, world.organization.id)
                .await
                .unwrap()
                .as_ref(),
            Some(&world.organization)
        );
        let page = db
            .list_for_user(world.user.id, &PageRequest::default())
            .await
            .unwrap();
        assert_eq!(page.items, vec![world.organization.clone(), second]);
        assert_eq!(page.next_cursor, None);
    })
    .await;
}

#[tokio::test]
async fn native_and_shadow_members_round_trip() {
    each_backend(|db| async move {
        let world = World::create(&db).await;
        let (bob_user, bob) = world.add_member(&db, "bob").await;
        let shadow = shadow_member(world.organization.id, "U42");
        commit(&db, vec![Change::InsertMember(shadow.clone())]).await;

        assert_eq!(
            MemberRepository::find(&db, shadow.id)
                .await
                .unwrap()
                .as_ref(),
            Some(&shadow)
        );
        assert_eq!(
            MemberRepository::find(&db, MemberId::new()).await.unwrap(),
            None
        );
        assert_eq!(
            db.find_for_user(world.organization.id, bob_user.id)
                .await
                .unwrap()
                .as_ref(),
            Some(&bob)
        );
        assert_eq!(
            db.memberships(world.user.id).await.unwrap(),
            vec![world.owner.clone()]
        );
        assert_eq!(
            db.list_native(world.organization.id).await.unwrap(),
            vec![world.owner.clone(), bob.clone()]
        );

        let page = MemberRepository::list(&db, world.organization.id, &PageRequest::default())
            .await
            .unwrap();
        assert_eq!(
            page.items,
            vec![
                MemberProfile {
                    member: world.owner.clone(),
                    email: Some(world.user.email.clone())
                },
                MemberProfile {
                    member: bob,
                    email: Some(bob_user.email.clone())
                },
                MemberProfile {
                    member: shadow,
                    email: None
                },
            ]
        );
    })
    .await;
}

#[tokio::test]
async fn channels_of_every_kind_round_trip() {
    each_backend(|db| async move {
        let world = World::create(&db).await;
        let mut private = channel(world.organization.id);
        private.kind = ChannelKind::Private;
        private.name = name("secret");
        let mut thread = channel(world.organization.id);
        thread.kind = ChannelKind::Thread {
            parent: world.channel.id,
        };
        commit(
            &db,
            vec![
                Change::InsertChannel(private.clone()),
                Change::InsertChannel(thread.clone()),
            ],
        )
        .await;

        for expected in [&world.channel, &private, &thread] {
            assert_eq!(
                ChannelRepository::find(&db, expected.id)
                    .await
                    .unwrap()
                    .as_ref(),
                Some(expected)
            );
        }
        let page = ChannelRepository::list(&db, world.organization.id, &PageRequest::default())
            .await
            .unwrap();
        assert_eq!(page.items, vec![world.channel, private, thread]);

        let other = World::create(&db).await;
        let page = ChannelRepository::list(&db, other.organization.id, &PageRequest::default())
            .await
            .unwrap();
        assert_eq!(page.items, vec![other.channel]);
    })
    .await;
}

#[tokio::test]
async fn members_are_found_many_at_once_within_one_organization() {
    each_backend(|db| async move {
        let world = World::create(&db).await;
        let (_, bob) = world.add_member(&db, "bob").await;
        let shadow = shadow_member(world.organization.id, "U1");
        let elsewhere = organization(&format!("elsewhere-{}", uuid_suffix()));
        let outsider = native_member(elsewhere.id, &world.user, Role::Owner);
        commit(
            &db,
            vec![
                Change::InsertMember(shadow.clone()),
                Change::InsertOrganization(elsewhere.clone()),
                Change::InsertMember(outsider.clone()),
            ],
        )
        .await;

        let asked = [
            shadow.id,
            outsider.id,
            MemberId::new(),
            bob.id,
            world.owner.id,
        ];
        let found = db.find_many(world.organization.id, &asked).await.unwrap();
        let mut expected = vec![world.owner.clone(), bob, shadow];
        expected.sort_by_key(|m| m.id);
        assert_eq!(found, expected, "members of the organization, by id");
        assert_eq!(
            db.find_many(elsewhere.id, &asked).await.unwrap(),
            vec![outsider]
        );
        assert!(
            db.find_many(world.organization.id, &[])
                .await
                .unwrap()
                .is_empty()
        );
    })
    .await;
}

/// Tokens, channels and memberships are answered from memory once found, but a miss is never
/// remembered: one created right after it was looked for (here, by another pool on the same
/// database, as another process would) is found at once.
#[tokio::test]
async fn a_token_channel_or_membership_looked_for_before_it_existed_is_found_once_created() {
    each_backend_url(|url| async move {
        let db = migrated(&url).await;
        let other = Database::connect(&url).await.unwrap();
        let world = World::create(&db).await;
        let secret = TokenSecret::generate();
        let late_channel = channel(world.organization.id);
        let late_user = crate::support::user(&format!("late-{}@example.com", uuid_suffix()));
        assert_eq!(db.find_by_token(&secret.hash()).await.unwrap(), None);
        assert_eq!(
            ChannelRepository::find(&db, late_channel.id).await.unwrap(),
            None
        );
        assert_eq!(
            db.find_for_user(world.organization.id, late_user.id)
                .await
                .unwrap(),
            None
        );
        let late_member = native_member(world.organization.id, &late_user, Role::Member);
        commit(
            &other,
            vec![
                Change::InsertUser(late_user.clone()),
                Change::InsertApiToken(ApiToken {
                    id: ApiTokenId::new(),
                    user_id: late_user.id,
                    hash: secret.hash(),
                    created_at: crate::support::now(),
                }),
                Change::InsertChannel(late_channel.clone()),
                Change::InsertMember(late_member.clone()),
            ],
        )
        .await;
        for _ in 0..2 {
            // The first read finds each row in the database, the second in memory.
            assert_eq!(
                db.find_by_token(&secret.hash()).await.unwrap(),
                Some(late_user.clone())
            );
            assert_eq!(
                ChannelRepository::find(&db, late_channel.id).await.unwrap(),
                Some(late_channel.clone())
            );
            assert_eq!(
                db.find_for_user(world.organization.id, late_user.id)
                    .await
                    .unwrap(),
                Some(late_member.clone())
            );
        }
        // Found once, the token is answered from memory: with its row deleted behind the
        // service's back, this pool still knows it, and a pool that never read it does not.
        {
            use sea_orm::ConnectionTrait as _;
            let raw = sea_orm::Database::connect(&url).await.unwrap();
            raw.execute_unprepared("DELETE FROM api_tokens")
                .await
                .unwrap();
            raw.close().await.unwrap();
        }
        assert_eq!(
            db.find_by_token(&secret.hash()).await.unwrap(),
            Some(late_user.clone())
        );
        assert_eq!(other.find_by_token(&secret.hash()).await.unwrap(), None);
    })
    .await;
}
