{#-
  The seed's query "posts that gained more than 50 favourites in the last hour" as a model: posts of
  post_engagement_velocity whose favourites_last_hour exceeds var velocity_min_favourites_gained (50),
  deleted posts excluded, most gained first.
-#}
with

velocity as (
    select * from {{ ref('post_engagement_velocity') }}
),

posts as (
    select * from {{ ref('posts') }}
),

final as (
    select
        velocity.post_id,
        velocity.instance_id,
        posts.content_text,
        velocity.as_of,
        velocity.favourites_last_hour as favourites_gained,
        velocity.favourites_count,
        rank() over (order by velocity.favourites_last_hour desc) as gain_rank
    from velocity
    inner join posts
        on
            velocity.instance_id = posts.instance_id
            and velocity.post_id = posts.post_id
    where
        posts.deleted_at is null
        and velocity.favourites_last_hour > {{ var('velocity_min_favourites_gained') }}
)

select * from final
