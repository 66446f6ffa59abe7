"""The Admin schema holds every query and mutation of Authgear's Admin API (pkg/admin/graphql, as
listed in the contract's names file) with Authgear's argument and return types, so a document
written for Authgear validates against Gatehouse."""

from __future__ import annotations

import pytest
from graphql import GraphQLObjectType, ObjectTypeDefinitionNode, parse, print_ast

from app.admin.resolvers import build_schema

# Authgear's root fields and its Resource and Scope types, descriptions removed.
AUTHGEAR_FIELDS = """
type Query {
  auditLogs(
    activityTypes: [AuditLogActivityType!]
    after: String
    before: String
    emailAddresses: [String!]
    first: Int
    last: Int
    phoneNumbers: [String!]
    rangeFrom: DateTime
    rangeTo: DateTime
    sortDirection: SortDirection
    userIDs: [ID!]
  ): AuditLogConnection
  fraudProtectionLogs(
    after: String
    before: String
    first: Int
    last: Int
    maximumWarningCount: Int
    minimumWarningCount: Int
    rangeFrom: DateTime
    rangeTo: DateTime
    reasonCodes: [String!]
    search: String
    sortDirection: SortDirection
    verdicts: [FraudProtectionDecision!]
  ): FraudProtectionDecisionRecordConnection
  fraudProtectionOverview(rangeFrom: DateTime, rangeTo: DateTime): FraudProtectionOverview!
  getUserByLoginID(loginIDKey: String!, loginIDValue: String!): User
  getUserByOAuth(oauthProviderAlias: String!, oauthProviderUserID: String!): User
  getUsersByStandardAttribute(attributeName: String!, attributeValue: String!): [User!]!
  groups(
    after: String
    before: String
    excludedIDs: [ID!]
    first: Int
    last: Int
    searchKeyword: String
  ): GroupConnection
  node(id: ID!): Node
  nodes(ids: [ID!]!): [Node]!
  resources(
    after: String
    before: String
    clientID: String
    first: Int
    last: Int
    searchKeyword: String
  ): ResourceConnection
  roles(
    after: String
    before: String
    excludedIDs: [ID!]
    first: Int
    last: Int
    searchKeyword: String
  ): RoleConnection
  users(
    after: String
    before: String
    first: Int
    groupKeys: [String!]
    last: Int
    roleKeys: [String!]
    searchKeyword: String
    sortBy: UserSortBy
    sortDirection: SortDirection
  ): UserConnection
}
type Mutation {
  addGroupToRoles(input: AddGroupToRolesInput!): AddGroupToRolesPayload!
  addGroupToUsers(input: AddGroupToUsersInput!): AddGroupToUsersPayload!
  addResourceToClientID(input: AddResourceToClientIDInput!): AddResourceToClientIDPayload!
  addRoleToGroups(input: AddRoleToGroupsInput!): AddRoleToGroupsPayload!
  addRoleToUsers(input: AddRoleToUsersInput!): AddRoleToUsersPayload!
  addScopesToClientID(input: AddScopesToClientIDInput!): AddScopesToClientIDPayload!
  addUserToGroups(input: AddUserToGroupsInput!): AddUserToGroupsPayload!
  addUserToRoles(input: AddUserToRolesInput!): AddUserToRolesPayload!
  anonymizeUser(input: AnonymizeUserInput!): AnonymizeUserPayload!
  createAuthenticator(input: CreateAuthenticatorInput!): CreateAuthenticatorPayload!
  createGroup(input: CreateGroupInput!): CreateGroupPayload!
  createIdentity(input: CreateIdentityInput!): CreateIdentityPayload!
  createResource(input: CreateResourceInput!): CreateResourcePayload!
  createRole(input: CreateRoleInput!): CreateRolePayload!
  createScope(input: CreateScopeInput!): CreateScopePayload!
  createSession(input: CreateSessionInput!): CreateSessionPayload!
  createUser(input: CreateUserInput!): CreateUserPayload!
  deleteAuthenticator(input: DeleteAuthenticatorInput!): DeleteAuthenticatorPayload!
  deleteAuthorization(input: DeleteAuthorizationInput!): DeleteAuthorizationPayload!
  deleteGroup(input: DeleteGroupInput!): DeleteGroupPayload!
  deleteIdentity(input: DeleteIdentityInput!): DeleteIdentityPayload!
  deleteResource(input: DeleteResourceInput!): DeleteResourcePayload!
  deleteRole(input: DeleteRoleInput!): DeleteRolePayload!
  deleteScope(input: DeleteScopeInput!): DeleteScopePayload!
  deleteUser(input: DeleteUserInput!): DeleteUserPayload!
  generateOOBOTPCode(input: GenerateOOBOTPCodeInput!): GenerateOOBOTPCodePayload!
  removeGroupFromRoles(input: RemoveGroupFromRolesInput!): RemoveGroupFromRolesPayload!
  removeGroupFromUsers(input: RemoveGroupFromUsersInput!): RemoveGroupToUsersPayload!
  removeMFAGracePeriod(input: removeMFAGracePeriodInput!): removeMFAGracePeriodPayload!
  removeResourceFromClientID(input: RemoveResourceFromClientIDInput!): RemoveResourceFromClientIDPayload!
  removeRoleFromGroups(input: RemoveRoleFromGroupsInput!): RemoveRoleFromGroupsPayload!
  removeRoleFromUsers(input: RemoveRoleFromUsersInput!): RemoveRoleFromUsersPayload!
  removeScopesFromClientID(input: RemoveScopesFromClientIDInput!): RemoveScopesFromClientIDPayload!
  removeUserFromGroups(input: RemoveUserFromGroupsInput!): RemoveUserFromGroupsPayload!
  removeUserFromRoles(input: RemoveUserFromRolesInput!): RemoveUserFromRolesPayload!
  replaceScopesOfClientID(input: ReplaceScopesOfClientIDInput!): ReplaceScopesOfClientIDPayload!
  resetAccountLockout(input: ResetAccountLockoutInput!): ResetAccountLockoutPayload!
  resetPassword(input: ResetPasswordInput!): ResetPasswordPayload!
  revokeAllSessions(input: RevokeAllSessionsInput!): RevokeAllSessionsPayload!
  revokeSession(input: RevokeSessionInput!): RevokeSessionPayload!
  scheduleAccountAnonymization(
    input: ScheduleAccountAnonymizationInput!
  ): ScheduleAccountAnonymizationPayload!
  scheduleAccountDeletion(input: ScheduleAccountDeletionInput!): ScheduleAccountDeletionPayload!
  sendResetPasswordMessage(input: SendResetPasswordMessageInput!): Boolean
  setAccountValidFrom(input: SetAccountValidFromInput!): SetAccountValidFromPayload!
  setAccountValidPeriod(input: SetAccountValidPeriodInput!): SetAccountValidPeriodPayload!
  setAccountValidUntil(input: SetAccountValidUntilInput!): SetAccountValidUntilPayload!
  setDisabledStatus(input: SetDisabledStatusInput!): SetDisabledStatusPayload!
  setMFAGracePeriod(input: SetMFAGracePeriodInput!): SetMFAGracePeriodPayload!
  setPasswordExpired(input: SetPasswordExpiredInput!): SetPasswordExpiredPayload!
  setVerifiedStatus(input: SetVerifiedStatusInput!): SetVerifiedStatusPayload!
  unscheduleAccountAnonymization(
    input: UnscheduleAccountAnonymizationInput!
  ): UnscheduleAccountAnonymizationPayload!
  unscheduleAccountDeletion(input: UnscheduleAccountDeletionInput!): UnscheduleAccountDeletionPayload!
  updateGroup(input: UpdateGroupInput!): UpdateGroupPayload!
  updateIdentity(input: UpdateIdentityInput!): UpdateIdentityPayload!
  updateResource(input: UpdateResourceInput!): UpdateResourcePayload!
  updateRole(input: UpdateRoleInput!): UpdateRolePayload!
  updateScope(input: UpdateScopeInput!): UpdateScopePayload!
  updateUser(input: UpdateUserInput!): UpdateUserPayload!
}
type Resource {
  clientIDs: [String!]!
  createdAt: DateTime!
  id: ID!
  name: String
  resourceURI: String!
  scopes(
    after: String
    before: String
    clientID: String
    first: Int
    last: Int
    searchKeyword: String
  ): ScopeConnection
  updatedAt: DateTime!
}
type Scope {
  createdAt: DateTime!
  description: String
  id: ID!
  resourceID: ID!
  scope: String!
  updatedAt: DateTime!
}
"""


def _authgear() -> dict[str, ObjectTypeDefinitionNode]:
    return {d.name.value: d for d in parse(AUTHGEAR_FIELDS).definitions if isinstance(d, ObjectTypeDefinitionNode)}


def _signature(node) -> tuple[str, dict[str, str]]:
    return print_ast(node.type), {a.name.value: print_ast(a.type) for a in node.arguments or ()}


def _ours(type_name: str) -> GraphQLObjectType:
    found = build_schema().get_type(type_name)
    assert isinstance(found, GraphQLObjectType), type_name
    return found


def test_authgear_lists_12_queries_and_58_mutations():
    authgear = _authgear()
    assert len(authgear["Query"].fields) == 12 and len(authgear["Mutation"].fields) == 58


@pytest.mark.parametrize("type_name", ["Query", "Mutation", "Resource", "Scope"])
def test_every_authgear_field_with_its_types(type_name):
    """Names, argument types and return types; Gatehouse may add fields, never miss or change one."""
    ours = _ours(type_name)
    missing, different = [], []
    for field in _authgear()[type_name].fields:
        name = field.name.value
        if name not in ours.fields:
            missing.append(name)
            continue
        mine = ours.fields[name]
        expected = _signature(field)
        actual = (str(mine.type), {arg: str(a.type) for arg, a in mine.args.items()})
        if actual != expected:
            different.append((name, expected, actual))
    assert missing == [] and different == []
