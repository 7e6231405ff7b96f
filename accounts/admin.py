from django.contrib import admin
from django.contrib.auth.admin import UserAdmin

from .models import RefreshToken, User

admin.site.register(User, UserAdmin)


@admin.register(RefreshToken)
class RefreshTokenAdmin(admin.ModelAdmin):
    list_display = ("user", "family", "created_at", "expires_at", "revoked_at", "revoked_reason")
    list_filter = ("revoked_reason",)
    search_fields = ("user__username",)
    readonly_fields = ("user", "family", "token_hash", "created_at", "expires_at")
